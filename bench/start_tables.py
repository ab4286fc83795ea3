"""What a worker's start costs before traffic, and what its first pages build: ``python -m
bench.start_tables BUNDLE [--rounds N] [--changes N]``.

Starts a worker's serving state in process as ``serving.app``'s lifespan does
(``ServiceState.load_initial``: the bundle loaded, verified and warmed by ``Engine.warm_up``; then
``serving.catalog.start_catalog``: the live catalog's first overlay and ``Engine.build_tables``),
live state off, ``--rounds`` times, each in a fresh events folder. ``--changes N`` logs N price
changes before each start (products of the bundle), so the first overlay swaps in a new product
table, as a worker restarted after catalog changes does; without, the overlay keeps the bundle's
table.

Prints as JSON, per round and the lowest of each over the rounds (steadier on a shared machine):
the start's process CPU and wall ms (``start_cpu_ms``, ``start_wall_ms``); the process CPU ms of
``Engine.warm_up`` and of ``Engine.build_tables`` within it (``warm_up_cpu_ms``,
``build_tables_cpu_ms``: the pages ranked twice before traffic, once per pipeline to verify the
bundle and again for what the pages keep per product table); then the first page of each pipeline
after the start at an hour of every time slot (:mod:`bench.first_pages`): its process CPU ms (the
slots' median) and what it built of what is kept per product table (``built``, by
:class:`bench.kept_builds.KeptBuilds`: empty when the start built it all).

Runs the same on an older checkout (copy ``bench/`` into it): it wraps ``Engine.warm_up`` and
``Engine.build_tables`` by name.
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
import time
import weakref
from pathlib import Path

import numpy as np


class StartClocks:
    """``Engine.warm_up`` and ``Engine.build_tables`` wrapped: the process CPU seconds of each call
    summed (the recall pool's threads included) and the product table the warm-up ranked on
    (``warmed_on``, a weak reference), restored on :meth:`close`."""

    NAMES = ("warm_up", "build_tables")

    def __init__(self) -> None:
        from ranking.engine import Engine

        self.seconds = dict.fromkeys(self.NAMES, 0.0)
        self.warmed_on = None
        self._originals = {name: getattr(Engine, name) for name in self.NAMES}
        for name, original in self._originals.items():
            setattr(Engine, name, self._timed(name, original))

    def _timed(self, name: str, original):
        seconds = self.seconds

        def timed(engine, *args, **kwargs):
            if name == "warm_up":
                self.warmed_on = weakref.ref(engine.snapshot.products)
            started = time.process_time()
            try:
                return original(engine, *args, **kwargs)
            finally:
                seconds[name] += time.process_time() - started
        return timed

    def close(self) -> None:
        from ranking.engine import Engine

        for name, original in self._originals.items():
            setattr(Engine, name, original)


def log_price_changes(bundle: Path, events_dir: Path, count: int) -> None:
    """``count`` price changes of the bundle's products, written as ``PUT /v1/catalog/products``
    writes them (checked against the bundle's catalog)."""
    from ranking.catalog_changes import PRODUCT_CHANGES, check_products
    from ranking.event_log import EventLog
    from ranking.features.snapshot import FeatureSnapshot
    from ranking.live.catalog_state import CatalogState, CatalogView

    snap = FeatureSnapshot.load(bundle / "snapshot")
    view = CatalogView(lambda: snap, CatalogState())
    rows = np.linspace(0, len(snap.products.ids) - 1, count).astype(np.int64)
    body = [{"product_id": int(snap.products.ids[r]),
             "price": round(float(snap.products.columns["price"][r]) * 0.5 + 1.0, 2)} for r in rows]
    EventLog(events_dir).append({PRODUCT_CHANGES: check_products(body, view, int(time.time() * 1000))[0]})


def one_start(bundle: Path, changes: int) -> dict:
    """One start in a fresh events folder, then the first pages after it."""
    from bench.catalog_change import started_state
    from bench.first_pages import SLOT_HOURS, pages, rank_each
    from bench.kept_builds import KeptBuilds

    with tempfile.TemporaryDirectory(prefix="start-tables-") as work:
        if changes:
            log_price_changes(bundle, Path(work), changes)
        clocks = StartClocks()
        try:
            wall, cpu = time.perf_counter(), time.process_time()
            with started_state(bundle, Path(work)) as state:
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                clocks.close()
                engine = state.engine
                swapped = clocks.warmed_on is None or engine.snapshot.products is not clocks.warmed_on()
                first: dict[str, list[float]] = {}
                built: dict[str, list[str]] = {}
                with KeptBuilds() as kept:
                    for offset, hour in enumerate(SLOT_HOURS):
                        for name, page in rank_each(engine, pages(engine, hour, offset), kept).items():
                            first.setdefault(name, []).append(page["process_cpu_ms"])
                            built.setdefault(name, []).extend(page["built"])
        finally:
            clocks.close()
    gc.collect()
    return {"start_cpu_ms": round(cpu * 1000, 1), "start_wall_ms": round(wall * 1000, 1),
            "warm_up_cpu_ms": round(clocks.seconds["warm_up"] * 1000, 1),
            "build_tables_cpu_ms": round(clocks.seconds["build_tables"] * 1000, 1),
            "table_swapped_at_start": bool(swapped),
            "first_pages": {name: {"cpu_ms": round(float(np.median(ms)), 2),
                                   "built": sorted(set(built[name]))} for name, ms in first.items()}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--rounds", type=int, default=2, help="starts, one after the other")
    parser.add_argument("--changes", type=int, default=0, help="price changes logged before each start")
    args = parser.parse_args(argv)
    rounds = [one_start(args.bundle, args.changes) for _ in range(args.rounds)]
    keys = [k for k in rounds[0] if k.endswith("_ms")]
    print(json.dumps({"bundle": str(args.bundle), "changes": args.changes, "rounds": rounds,
                      "lowest": {k: min(r[k] for r in rounds) for k in keys}}))


if __name__ == "__main__":
    main()
