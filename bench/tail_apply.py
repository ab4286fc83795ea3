"""What the live tail costs per exposure row: ``python -m bench.tail_apply [--pages N] [--batch N]
[--shoppers N] [--rounds N]``.

Writes exposure lines as the service does (:func:`serving.side_effects.exposure_line`'s fields:
one search or homepage page of 20 cards per line, a share of them with the logged live
features) into a fresh event log, ``--batch`` lines at a time (50: the ~0.5 s of pages one
``serving.exposure_flush_seconds`` flush holds at 100 pages a second), and times the embedded
backend's ``catch_up`` of each batch in thread CPU: the burst the tail thread holds the GIL for
while pages wait. Prints the median ms per batch and per 1,000 impression rows, and the median
ms of the one step the tail cannot pace, the apply under the state's lock (``apply_locked``: a
page reading the live state waits for all of it), and the longest single hold of the state's
lock (``hold_max``: any step under it, the apply, a catalog description, a grow of the per-row
arrays when the products, stores or shoppers outgrow them). ``--shoppers`` draws each line's shopper from
that many (``bench.speed``'s rerank run cycles 50); ``--rounds`` repeats the whole run on a fresh
state and prints each round's medians and the lowest (steadier on a shared machine). No bundle
needed.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson

T0 = 1_796_553_560_000


def exposure_lines(pages: int, seed: int = 1, shoppers: int = 1000) -> list[bytes]:
    """``pages`` exposure lines: ``shoppers`` shoppers, 50,000 products, every fourth line with
    live features."""
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(pages):
        products = rng.choice(50_000, 20, replace=False).tolist()
        search = i % 2 == 0
        line = {"request_id": int(rng.integers(2**62)), "timestamp": T0 + i * 10,
                "user_id": int(rng.integers(shoppers)), "session_id": None,
                "surface": "search" if search else "homepage",
                "query_id": int(rng.integers(2**52)) if search else None, "typed_query_id": None,
                "query": "纸尿裤" if search else None, "typed_query": None, "experiment": "none",
                "variant": "default", "bundle_version": "20261206T045729Z-15ddf04a", "latency_ms": 7.5,
                "cards": {"product_id": products, "position": list(range(1, 21)), "team": [None] * 20,
                          "shared": [None] * 20, "propensity": [1.0] * 20}}
        if i % 4 == 0:
            line["live_features"] = {f"f{k}": rng.random(20).round(4).tolist() for k in range(7)}
        lines.append(orjson.dumps(line) + b"\n")
    return lines


def one_round(lines: list[bytes], batch: int) -> dict:
    """Apply ``lines`` ``batch`` at a time to a fresh embedded state; medians of the batches
    after the first three (thread CPU)."""
    from ranking.live.embedded import EmbeddedLiveState
    from ranking.settings import load_settings

    batches = []
    with tempfile.TemporaryDirectory(prefix="tail-apply-") as work:
        (Path(work) / "exposures").mkdir()
        live = EmbeddedLiveState(load_settings([]).live, Path(work))
        locked = [0.0]
        apply_chunks = live.state.apply_chunks

        def timed_apply(chunks):  # the step under the lock (its chunks were made before it)
            started = time.thread_time()
            try:
                return apply_chunks(chunks)
            finally:
                locked[0] += time.thread_time() - started

        live.state.apply_chunks = timed_apply
        holds = [0.0]
        live.lock = HeldLock(live.lock, holds)
        with open(Path(work) / "exposures" / "w.jsonl", "ab") as log:
            for k in range(0, len(lines), batch):
                log.write(b"".join(lines[k:k + batch]))
                log.flush()
                locked[0], holds[0], started = 0.0, 0.0, time.thread_time()
                rows = live.catch_up()
                spent = time.thread_time() - started
                batches.append((spent * 1000, locked[0] * 1000, rows, holds[0] * 1000))
        live.stop()  # never started: closes the tail's descriptors
    ms, apply_ms, rows, held_ms = (np.array(column) for column in zip(*batches[3:], strict=True))
    return {"batches": len(ms), "lines_per_batch": batch, "rows_per_batch": float(np.median(rows)),
            "ms_per_batch_p50": round(float(np.median(ms)), 3),
            "ms_per_batch_max": round(float(ms.max()), 3),
            "ms_apply_locked_p50": round(float(np.median(apply_ms)), 3),
            "ms_hold_max": round(float(held_ms.max()), 3),
            "ms_per_1000_rows": round(float(np.median(ms / np.maximum(rows, 1)) * 1000), 3)}


class HeldLock:
    """The state's lock, keeping in ``holds[0]`` the longest thread CPU one outermost hold took."""

    def __init__(self, lock, holds: list[float]) -> None:
        self.lock, self.holds, self.depth, self.started = lock, holds, 0, 0.0

    def __enter__(self) -> HeldLock:
        self.lock.acquire()
        self.depth += 1
        if self.depth == 1:
            self.started = time.thread_time()
        return self

    def __exit__(self, *exc) -> None:
        self.depth -= 1
        if not self.depth:
            self.holds[0] = max(self.holds[0], time.thread_time() - self.started)
        self.lock.release()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--shoppers", type=int, default=1000, help="shoppers the lines draw from")
    parser.add_argument("--rounds", type=int, default=1, help="whole runs on fresh states (lowest printed)")
    args = parser.parse_args()
    lines = exposure_lines(args.pages, shoppers=args.shoppers)
    rounds = [one_round(lines, args.batch) for _ in range(args.rounds)]
    if len(rounds) == 1:
        print(json.dumps(rounds[0]))
        return
    keys = [k for k in rounds[0] if k.startswith("ms_")]
    print(json.dumps({**{k: v for k, v in rounds[0].items() if not k.startswith("ms_")},
                      "rounds": [{k: r[k] for k in keys} for r in rounds],
                      "lowest": {k: min(r[k] for r in rounds) for k in keys}}))


if __name__ == "__main__":
    main()
