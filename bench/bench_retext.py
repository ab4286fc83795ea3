"""Known products re-indexed live: 1,000 and 10,000 changed titles on a default-scale bundle.

Loads the bundle in-process and, for each of ``SIZES`` (1,000 and 10,000;
``SHELFRANK_RETEXT_SIZES=1000,10000``), retitles that many distinct existing products (their
title's words shuffled, plus a new model code word; one in ten also moved to another leaf
category) with one :func:`ranking.live.known_product_text.retext_products` call: one batch,
one swap, as one catalog poll hands it over. A search thread runs ``Engine.rank("search")`` in a
loop meanwhile, as in :mod:`bench.bench_new_products`. Reported: the one-time reading of the
bundle's statistics and leaf words (at an engine's first add or re-index), each batch's wall time, search
p50/p99 before and during, and a check that the last batch's new words find their products
(lexical). Run alone: ``python -m bench.bench_retext [BUNDLE [SECTION.FIELD=VALUE ...]]``
(default: the bench's default-scale bundle).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

from bench.bench_new_products import _latencies
from bench.context import BenchContext
from ranking.engine import Engine
from ranking.live.known_product_text import retext_products
from ranking.live.new_products import frozen_state, prepare
from ranking.settings import load_settings

SIZES = [int(s) for s in os.environ.get("SHELFRANK_RETEXT_SIZES", "1000,10000").split(",")]


def changed_titles(engine: Engine, n: int, seed: int) -> list[dict]:
    """``n`` distinct existing products with new titles (one in ten also in another leaf)."""
    rng = np.random.default_rng(seed)
    snap = engine.snapshot
    ids = rng.choice(snap.products.ids, size=min(n, len(snap.products.ids)), replace=False)
    titles = engine.catalog.titles_of(ids)
    categories = np.unique(snap.products.columns["category_id"].astype(np.int64))
    out = []
    for pid, title in zip(ids.tolist(), titles, strict=True):
        words = str(title).split()
        rng.shuffle(words)
        code = "rt" + "".join(rng.choice(list("bcdfgklmnprstvz"), 4)) + str(int(rng.integers(10, 99)))
        row = {"product_id": int(pid), "title": f"{' '.join(words)} {code}"}
        if rng.random() < 0.1:
            row["category_id"] = int(rng.choice(categories))
        out.append(row)
    return out


def _ms(times: list[float], q: float) -> float:
    return round(float(np.percentile(times, q)), 2) if times else float("nan")


def measure(bundle: Path, overrides: list[str] | None = None) -> dict:
    engine = Engine.load(bundle, load_settings(overrides or []))
    queries = [w for w in engine.snapshot.text.vocabulary if len(w) >= 2][:400]
    baseline, _ = _latencies(engine, queries, lambda: time.sleep(5))
    out: dict = {"retext_bundle_products": len(engine.snapshot.products.ids),
                 "retext_search_baseline_p50_ms": _ms(baseline, 50),
                 "retext_search_baseline_p99_ms": _ms(baseline, 99)}
    started = time.perf_counter()  # the bundle's statistics and leaf words: once per engine
    prepare(engine, frozen_state(engine))
    out["retext_prepare_seconds"] = round(time.perf_counter() - started, 2)
    search = next(r.search for r in engine.recall if r.search is not None)
    for i, n in enumerate(SIZES):
        rows = changed_titles(engine, n, seed=21 + i)
        done: list[int] = []
        during, seconds = _latencies(engine, queries,
                                     lambda rows=rows, done=done: done.append(retext_products(engine, rows)))
        found = sum(int(r["product_id"]) in search.lexical(r["title"].split()[-1], 5)[0].tolist()
                    for r in rows[:200])
        out.update({f"retext_{n}_changed": done[0], f"retext_{n}_seconds": round(seconds, 2),
                    f"retext_{n}_search_during_p50_ms": _ms(during, 50),
                    f"retext_{n}_search_during_p99_ms": _ms(during, 99),
                    f"retext_{n}_found_by_new_word_of_200": found})
    engine.close()
    return out


def bench(ctx: BenchContext) -> dict:
    return measure(ctx.bundle("default"))


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("bench/out/models-default/latest")
    for key, value in measure(target, sys.argv[2:]).items():  # then settings: live.x=y ...
        print(f"{key}: {value}")
