"""What the point-in-time catalog costs the feature build:
``python -m bench.catalog_timeline DATA WORKDIR [--changes 300] [SETTING=VALUE ...]``.

Writes a catalog change log of ``--changes`` changes at random moments over DATA's logs (87% price
and stock upserts of random products, 13% bans), merges it (``merge-events``) into
WORKDIR/with, copies that to WORKDIR/without less ``product_changes`` and ``product_originals``
(the same final products, no history), then builds the ranking frame of each, alternating,
``--rounds`` times. Prints JSON: cards, history rows, each build's seconds and the ratio of the
medians (with / without). The figures in docs/catalog.md come from this command.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq


def write_changes(data: Path, events: Path, n: int, seed: int = 3) -> None:
    """``n`` catalog changes at random moments within DATA's impressions."""
    from ranking.catalog_changes import BANS, PRODUCT_CHANGES
    from ranking.contracts.frames import load_frames
    from ranking.event_log import EventLog

    tables = load_frames(data, ["products"], {})
    products = tables["products"].set_index("product_id")
    ms = load_frames(data, ["impressions"], {"impressions": ["timestamp"]})["impressions"].timestamp
    lo, hi = int(ms.min()), int(ms.max())
    rng = np.random.default_rng(seed)
    ids = rng.choice(products.index.to_numpy(), n, replace=n > len(products))  # a product changed often
    upserts = int(n * 0.87)
    log = EventLog(events)
    for pid in ids[:upserts]:
        price = round(float(products.price[pid]) * rng.uniform(0.6, 1.2), 2)
        stock = int(rng.integers(0, 50))
        log.append({PRODUCT_CHANGES: [{"product_id": int(pid), "price": price, "stock": stock,
                                       "changed_ms": int(rng.integers(lo, hi))}]})
    for pid in ids[upserts:]:
        log.append({BANS: [{"product_ids": [int(pid)], "store_ids": [], "reason": "bench", "unban": False,
                            "changed_ms": int(rng.integers(lo, hi))}]})
    log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", type=Path, help="a mall folder")
    parser.add_argument("work", type=Path, help="a scratch folder (emptied)")
    parser.add_argument("--changes", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("overrides", nargs="*", help="settings, e.g. training.live_features=false")
    args = parser.parse_intermixed_args()
    from ranking.settings import load_settings
    from training.data.event_import import merge_events
    from training.data.mall_data import load_mall
    from training.learning.dataset import build_ranking_frame

    shutil.rmtree(args.work, ignore_errors=True)
    write_changes(args.data, args.work / "events", args.changes)
    merge_events(args.data, args.work / "events", args.work / "with")
    shutil.copytree(args.work / "with", args.work / "without")
    for name in ("product_changes", "product_originals"):
        (args.work / "without" / f"{name}.parquet").unlink()
    settings = load_settings(args.overrides)
    seconds: dict[str, list[float]] = {"with": [], "without": []}
    cards = 0
    for _ in range(args.rounds):
        for name in ("without", "with"):
            mall = load_mall(args.work / name)
            started = time.perf_counter()
            cards = len(build_ranking_frame(mall, settings, progress=False))
            seconds[name].append(round(time.perf_counter() - started, 3))
    history = pq.read_metadata(args.work / "with" / "product_changes.parquet").num_rows
    medians = {k: float(np.median(v)) for k, v in seconds.items()}
    print(json.dumps({"cards": cards, "changes": args.changes, "history_rows": history, "seconds": seconds,
                      "ratio_of_medians": round(medians["with"] / medians["without"], 3)}))


if __name__ == "__main__":
    main()
