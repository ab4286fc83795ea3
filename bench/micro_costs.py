"""The small per-call costs the code's docstrings quote, measured: ``python -m bench.micro_costs``.

Each line times a helper against the numpy form it replaces, on the sizes the docstring names
(best of ``--repeats`` timings of ``--calls`` calls, microseconds a call, this thread's wall
clock): ``ranking.mall_clock.slot_of`` against ``slot_index`` of one hour;
``ranking.stable_top.stable_top``'s partition against a whole stable sort (1,200 and 20,000 floats
with ties, k = 60; its own size rule off, ``WHOLE_SORT_MAX`` 0);
``ranking.row_lookup.RowLookup`` on dense ids against a binary search (200 of 50,000 ids), warm
and with 32 MB written between calls (``_cold``: a page's other work leaves the ids out of the
cache); ``ranking.cold_start.posterior``'s ``nan_to`` and ``_clip`` against ``np.nan_to_num``
and ``np.clip`` (200 rows); the Redis backend's kept counters
(``ranking.live.signals_cache.SignalsCache``) holding 50,000 products of ids below 1M, a page's
700 read and kept again (``signals_cache_get_us``, ``_put_us``), kept as a bucket's first
(``_first_put_us``: a new window, its by-id array filled anew), 500 dropped (``_forget_us``), and
the bytes a product a window it holds filled to 100,000 products in both windows, 500 a put
(``tracemalloc``; ids below 100,000, 1M and 2M: the by-id array grows with the largest id); a
search response's JSON with and without its ``dropped`` entries (``search_json_us``,
``_without_dropped_us``, and the list's bytes);
and, given ``--bundle``, ``LeafRates.of_table`` on its product table (ms). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def per_call_us(fn: Callable[[], object], calls: int, repeats: int,
                between: Callable[[], object] | None = None) -> float:
    """Best of ``repeats`` mean wall times of ``fn`` over ``calls`` calls, in us: the whole loop
    timed (no clock read per call, which would weigh on sub-microsecond calls), or with
    ``between`` run before each call, each call timed alone (``between`` outside the timing)."""
    best = float("inf")
    for _ in range(repeats):
        if between is None:
            started = time.perf_counter()
            for _ in range(calls):
                fn()
            spent = time.perf_counter() - started
        else:
            spent = 0.0
            for _ in range(calls):
                between()
                started = time.perf_counter()
                fn()
                spent += time.perf_counter() - started
        best = min(best, spent / calls)
    return round(best * 1e6, 3)


def measure(calls: int = 2_000, repeats: int = 5, bundle: Path | None = None) -> dict:
    from ranking import stable_top as top_module

    whole_up_to, top_module.WHOLE_SORT_MAX = top_module.WHOLE_SORT_MAX, 0  # the partition at any size
    try:
        out = _pairs(calls, repeats)
    finally:
        top_module.WHOLE_SORT_MAX = whole_up_to
    out |= _signals_cache(calls, repeats)
    out |= _dropped_json(calls, repeats)
    if bundle is not None:
        out |= _leaf_rates_ms(bundle, repeats)
    return out


def _pairs(calls: int, repeats: int) -> dict:
    """Each helper beside the numpy form it replaces, us a call."""
    from ranking.cold_start.posterior import _clip, nan_to
    from ranking.mall_clock import slot_index, slot_of
    from ranking.row_lookup import RowLookup
    from ranking.stable_top import stable_top

    rng = np.random.default_rng(0)
    # a homepage's recent_categories: -(leaf weight x product reach), floats with ties
    recent = -(np.repeat(rng.random(6), 200) * np.round(rng.random(1_200) * 100, 1))
    many = -(np.repeat(rng.random(100), 200) * np.round(rng.random(20_000) * 100, 1))
    ids = np.arange(1, 50_001, dtype=np.int64)
    lookup, page = RowLookup(ids), np.sort(rng.choice(ids, 200, replace=False))
    scratch = np.zeros(32 << 20, np.uint8)

    def evict() -> None:
        np.add(scratch, 1, out=scratch)  # 32 MB written: the ids leave the cache

    rows = rng.normal(size=200)
    rows[::17] = np.nan
    bounds = rng.normal(size=200) - 3, rng.normal(size=200) + 3
    return {
        "slot_of_us": per_call_us(lambda: slot_of(13), calls, repeats),
        "slot_index_us": per_call_us(lambda: slot_index(13), calls, repeats),
        "stable_top_us": per_call_us(lambda: stable_top(recent, 60), calls, repeats),
        "argsort_stable_us": per_call_us(lambda: np.argsort(recent, kind="stable")[:60], calls, repeats),
        "stable_top_20k_us": per_call_us(lambda: stable_top(many, 60), calls // 10, repeats),
        "argsort_stable_20k_us": per_call_us(lambda: np.argsort(many, kind="stable")[:60], calls // 10,
                                             repeats),
        "row_lookup_dense_us": per_call_us(lambda: lookup.rows(page), calls, repeats),
        "searchsorted_us": per_call_us(lambda: np.searchsorted(ids, page), calls, repeats),
        "row_lookup_dense_cold_us": per_call_us(lambda: lookup.rows(page), calls // 20, repeats, evict),
        "searchsorted_cold_us": per_call_us(lambda: np.searchsorted(ids, page), calls // 20, repeats, evict),
        "nan_to_us": per_call_us(lambda: nan_to(rows), calls, repeats),
        "nan_to_num_us": per_call_us(lambda: np.nan_to_num(rows, nan=0.0), calls, repeats),
        "clip_ufuncs_us": per_call_us(lambda: _clip(rows, *bounds), calls, repeats),
        "np_clip_us": per_call_us(lambda: np.clip(rows, *bounds), calls, repeats),
    }


def _signals_cache(calls: int, repeats: int) -> dict:
    """The kept counters' per-page calls (us) and their memory (bytes a product a window)."""
    import tracemalloc

    from ranking.live.signals_cache import SignalsCache

    rng = np.random.default_rng(1)
    cache, held = SignalsCache(1e9), rng.choice(1_000_000, 50_000, replace=False).astype(np.int64)
    for start in range(0, len(held), 700):
        ids = held[start:start + 700]
        cache.put("h", 1, ids, np.ones((len(ids), 5)), np.ones(5), cache.get("h", 1, ids)[3], 0.0)
    page, sums, dropped = rng.choice(held, 700, replace=False), np.ones((700, 5)), held[:500].tolist()

    def keep() -> None:
        cache.put("h", 1, page, sums, np.ones(5), cache.generation, 0.0)

    buckets, fresh = iter(range(2, 1 << 62)), SignalsCache(1e9)  # its own: the others' cache unchanged

    def keep_first() -> None:  # a bucket's first keep: a new window, its by-id array filled anew
        fresh.put("h", next(buckets), page, sums, np.ones(5), fresh.generation, 0.0)

    out = {
        "signals_cache_get_us": per_call_us(lambda: cache.get("h", 1, page), calls // 10, repeats),
        "signals_cache_put_us": per_call_us(keep, calls // 10, repeats),
        "signals_cache_first_put_us": per_call_us(keep_first, calls // 10, repeats),
        "signals_cache_forget_us": per_call_us(lambda: cache.forget(dropped), calls // 10, repeats),
    }
    if tracemalloc.is_tracing():  # another tracer's reading would count this process's other memory
        return out
    for below in (100_000, 1_000_000, 2_000_000):  # the by-id array stays on below 2,097,152
        ids = rng.choice(below, 100_000, replace=False).astype(np.int64)
        tracemalloc.start()
        filled = SignalsCache(1e9)
        for window in ("h", "d"):
            for start in range(0, len(ids), 500):
                part = ids[start:start + 500]
                filled.put(window, 1, part, np.ones((len(part), 5)), np.ones(5), filled.generation, 0.0)
        held_bytes = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        out[f"signals_cache_bytes_a_product_ids_below_{below}"] = round(held_bytes / (2 * len(ids)), 1)
    return out


def _dropped_json(calls: int, repeats: int) -> dict:
    """A search response's JSON (``serving.pages.encoded_body``) with and without its ``dropped``
    list, us: the API's example page (``serving.api_examples``) with 20 of its cards and a search's
    dropped entries as ranking.pipeline.dropped's docstring counts them (~560; split here 440 below
    the relevance floor, 100 repeats, 20 of governance's mixed reasons), ~42 KB; the demo mall's
    search responses held ~25 KB of them (docs/speed.md, "Stop 55"), so this is the larger end."""
    from ranking.pipeline.dropped import DroppedEntries
    from serving.api_examples import CARD, PAGE
    from serving.pages import encoded_body

    rng = np.random.default_rng(2)
    dropped = DroppedEntries()
    dropped.add(rng.choice(50_000, 440, replace=False).astype(np.int64), "below_relevance_floor",
                "relevance_floor")
    dropped.add(rng.choice(50_000, 100, replace=False).astype(np.int64), "duplicate", "recall")
    dropped.add(rng.choice(50_000, 20, replace=False).astype(np.int64),
                np.array(["banned", "out_of_stock"] * 10, dtype=object), "governance")
    page = {**PAGE, "cards": [{**CARD, "product_id": i, "position": i + 1} for i in range(20)],
            "dropped": dropped}
    bare = {**page, "dropped": []}
    return {"search_json_us": per_call_us(lambda: encoded_body(page), calls, repeats),
            "search_json_without_dropped_us": per_call_us(lambda: encoded_body(bare), calls, repeats),
            "search_json_dropped_bytes": len(encoded_body(page)) - len(encoded_body(bare))}


def _leaf_rates_ms(bundle: Path, repeats: int) -> dict:
    from ranking.cold_start.posterior import LeafRates
    from ranking.features.snapshot import FeatureSnapshot

    products = FeatureSnapshot.load(bundle / "snapshot").products
    best = per_call_us(lambda: LeafRates.of_table(products, 20.0), 1, repeats) / 1000
    return {"leaf_rates_products": len(products.ids), "leaf_rates_ms": round(best, 2)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--bundle", type=Path, help="also LeafRates.of_table on this bundle's products")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.calls, args.repeats, args.bundle)))


if __name__ == "__main__":
    main()
