"""What the live tail costs per exposure row: ``python -m bench.tail_apply [--pages N] [--batch N]``.

Writes exposure lines as the service does (:func:`serving.side_effects.exposure_line`'s fields:
one search or homepage page of 20 cards per line, a share of them with the logged live
features) into a fresh event log, ``--batch`` lines at a time (50: the ~0.5 s of pages one
``serving.exposure_flush_seconds`` flush holds at 100 pages a second), and times the embedded
backend's ``catch_up`` of each batch in thread CPU: the burst the tail thread holds the GIL for
while pages wait. Prints the median ms per batch and per 1,000 impression rows. No bundle needed.
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


def exposure_lines(pages: int, seed: int = 1) -> list[bytes]:
    """``pages`` exposure lines: 1,000 shoppers, 50,000 products, every fourth line with live features."""
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(pages):
        products = rng.choice(50_000, 20, replace=False).tolist()
        search = i % 2 == 0
        line = {"request_id": int(rng.integers(2**62)), "timestamp": T0 + i * 10,
                "user_id": int(rng.integers(1000)), "session_id": None,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()
    from ranking.live.embedded import EmbeddedLiveState
    from ranking.settings import load_settings

    lines = exposure_lines(args.pages)
    batches = []
    with tempfile.TemporaryDirectory(prefix="tail-apply-") as work:
        (Path(work) / "exposures").mkdir()
        live = EmbeddedLiveState(load_settings([]).live, Path(work))
        with open(Path(work) / "exposures" / "w.jsonl", "ab") as log:
            for k in range(0, len(lines), args.batch):
                log.write(b"".join(lines[k:k + args.batch]))
                log.flush()
                started = time.thread_time()
                rows = live.catch_up()
                batches.append(((time.thread_time() - started) * 1000, rows))
        live.stop()  # never started: closes the tail's descriptors
    ms, rows = np.array([b[0] for b in batches[3:]]), np.array([b[1] for b in batches[3:]])
    print(json.dumps({"batches": len(ms), "lines_per_batch": args.batch,
                      "rows_per_batch": float(np.median(rows)),
                      "ms_per_batch_p50": round(float(np.median(ms)), 3),
                      "ms_per_batch_max": round(float(ms.max()), 3),
                      "ms_per_1000_rows": round(float(np.median(ms / np.maximum(rows, 1)) * 1000), 3)}))


if __name__ == "__main__":
    main()
