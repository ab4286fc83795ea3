"""What a live catalog change costs the worker and the pages after it: ``python -m bench.catalog_change
BUNDLE [--changes N] [--kind price|stock|ban|store_ban]``.

Starts a worker's serving state in process as the service does (``ServiceState.load_initial``,
then ``serving.catalog.start_catalog``: the bundle loaded and warmed, the live catalog's first
overlay laid, the tables built, the follower's thread polling every ``live.poll_ms``; live state
off, so nothing else runs). Then ``--changes`` times: ranks one page of each pipeline
(:func:`bench.first_pages.pages`, the same requests every time: a repeat), writes one catalog
change to the event log as ``PUT /v1/catalog/products`` or ``POST /v1/catalog/bans`` do (the rows
checked against the served catalog) and applies it as the route does (``CatalogFollower.catch_up``
on the writing thread; the follower's own poll on another worker), then ranks the same pages
again: the first pages after the change. The changes touch products the pages show: ``price``
halves a product's price, ``stock`` sells one out, ``ban`` bans one, ``store_ban`` bans the store
of one (every product of that store).

Prints as JSON, median and max over the changes:

* ``follower_cpu_ms``: the fold, the overlay and what is built for the new table before the swap
  (``ranking/live/catalog_tables.py``), the thread CPU of the ``catch_up`` that applied the change;
  ``follower_built``: what it built, counted over the changes (:class:`bench.kept_builds.KeptBuilds`);
* ``swapped``: the changes after which the engine served a new product table;
* per pipeline, the page's CPU ms before the change (``repeat_cpu_ms``) and on its first page after
  it (``first_after_cpu_ms``), process CPU (the recall pool's threads and any build aside
  included), and ``built_after``: the changes after which that first page built something kept
  per product table, with what (``built``: should be empty);
* ``aside_built``: builds on other threads during the pages (a feature table built aside).

Runs on any bundle; at 1M products each change copies the per-product feature table (hundreds of
ms): keep ``--changes`` small there.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

KINDS = ("price", "stock", "ban", "store_ban")


@contextmanager
def started_state(bundle: Path, events_dir: Path, overrides: list[str] | tuple[str, ...] = ()):
    """A worker's serving state started as ``serving.app``'s lifespan starts it (the bundle, then the
    live catalog), live state off; the catalog follower stopped and the engine closed at the end."""
    from ranking.settings import load_settings
    from serving.catalog import start_catalog, stop_catalog
    from serving.state import ServiceState

    settings = load_settings([f"serving.bundle={bundle}", f"serving.events_dir={events_dir}",
                              "live.backend=off", *overrides])
    state = ServiceState(settings)
    state.load_initial()
    if state.engine is None:
        raise SystemExit(state.load_error)
    start_catalog(state)
    try:
        yield state
    finally:
        stop_catalog(state)
        state.engine.close()


class TimedFolds:
    """Wraps the follower's ``catch_up`` (the route's call and the follower thread's poll alike): the
    thread CPU seconds of each call that read some rows, in order."""

    def __init__(self, follower: Any) -> None:
        self.folds: list[float] = []
        self.folded = threading.Event()
        catch_up = follower.catch_up

        def timed() -> int:
            started = time.thread_time()
            rows = catch_up()
            if rows:
                self.folds.append(time.thread_time() - started)
                self.folded.set()
            return rows

        follower.catch_up = timed  # ``_run`` calls ``self.catch_up()``: the instance's attribute first


def change(state: Any, kind: str, product_id: int) -> None:
    """Write one change of ``kind`` about ``product_id`` to the worker's event log as the catalog
    routes do (checked against the served catalog), then apply it as they do."""
    from ranking.catalog_changes import BANS, PRODUCT_CHANGES, check_ban, check_products

    engine = state.engine
    view, now = state.catalog.view(engine), int(time.time() * 1000)
    limit = state.settings.catalog.max_ban_ids
    if kind == "ban":
        batch = {BANS: [check_ban({"product_ids": [product_id], "reason": "bench"}, view, now, limit)]}
    elif kind == "store_ban":
        store = view.store_of(product_id)
        batch = {BANS: [check_ban({"store_ids": [store], "reason": "bench"}, view, now, limit)]}
    else:
        row = engine.snapshot.products.rows(np.array([product_id], np.int64))[0]
        if kind == "price":
            price = round(float(engine.snapshot.products.columns["price"][row]) * 0.5 + 1.0, 2)
            body = {"product_id": product_id, "price": price}
        else:
            body = {"product_id": product_id, "stock": 0}
        batch = {PRODUCT_CHANGES: check_products([body], view, now)[0]}
    state.event_log.append(batch, client="bench")
    state.catalog.catch_up()


def targets(state: Any, shown: dict[str, dict], kind: str, count: int) -> list[int]:
    """``count`` products the pages show, in page order, each of another store for ``store_ban``."""
    out, stores = [], set()
    view = state.catalog.view(state.engine)
    for product in (p for page in shown.values() for p in page["ids"]):
        if product in out:
            continue
        if kind == "store_ban":
            store = view.store_of(product)
            if store in stores:
                continue
            stores.add(store)
        out.append(product)
        if len(out) == count:
            return out
    raise SystemExit(f"the pages show only {len(out)} products to change ({kind}), fewer than {count}")


def summary(values: list[float]) -> dict[str, float]:
    return {"median": round(float(np.median(values)), 3), "max": round(float(np.max(values)), 3)}


def run(bundle: Path, changes: int, kind: str, hour: int = 15) -> dict:
    from bench.first_pages import pages, rank_each
    from bench.kept_builds import KeptBuilds

    with tempfile.TemporaryDirectory(prefix="catalog-change-") as work, \
            started_state(bundle, Path(work)) as state, KeptBuilds() as kept:
        follower, engine = state.catalog, state.engine
        requests = pages(engine, hour)
        rank_each(engine, requests)  # what these pages keep (the first pages after start)
        chosen = targets(state, rank_each(engine, requests), kind, changes)
        folds = TimedFolds(follower)
        repeat: dict[str, list[float]] = {name: [] for name, _ in requests}
        after: dict[str, list[float]] = {name: [] for name, _ in requests}
        built_after: dict[str, list[list[str]]] = {name: [] for name, _ in requests}
        follower_built, aside, swapped = Counter(), Counter(), 0
        for product in chosen:
            for name, page in rank_each(engine, requests).items():
                repeat[name].append(page["process_cpu_ms"])
            kept.take()
            products, folds.folded = engine.snapshot.products, threading.Event()
            change(state, kind, product)
            if not folds.folded.wait(30):
                raise SystemExit(f"the {kind} change of product {product} was not applied within 30 s")
            follower_built.update(what for thread, what in kept.take())
            swapped += engine.snapshot.products is not products
            for name, page in rank_each(engine, requests, kept).items():
                after[name].append(page["process_cpu_ms"])
                built_after[name].append(page["built"])
                aside.update(page["built_aside"])
        n = len(chosen)
        return {"bundle": str(bundle), "products": len(engine.snapshot.products.ids), "kind": kind,
                "changes": n, "hour": hour, "follower_cpu_ms": summary([s * 1000 for s in folds.folds]),
                "follower_built": {what: count for what, count in sorted(follower_built.items())},
                "swapped": swapped,
                "pages": {name: {"repeat_cpu_ms": summary(repeat[name]),
                                 "first_after_cpu_ms": summary(after[name]),
                                 "built_after": sum(bool(b) for b in built_after[name]),
                                 "built": sorted({w for b in built_after[name] for w in b})}
                          for name in after},
                "aside_built": dict(aside)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--changes", type=int, default=10, help="changes applied, one at a time")
    parser.add_argument("--kind", choices=KINDS, default="price", help="what each change does")
    parser.add_argument("--hour", type=int, default=15, help="the pages' hour of the day")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.bundle, args.changes, args.kind, args.hour)))


if __name__ == "__main__":
    main()
