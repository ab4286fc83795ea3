"""Where a firing synonym book's extra goes, stage by stage: ``python -m bench.synonym_stages BUNDLE``.

:mod:`bench.merch_synonyms` times whole pages and splits nothing. Here, as there since stop 52,
each arm has its own engine (the bundle loaded once per arm, read only), so every page of the pass
is a first-time query in its arm and no arm reads the per-query memos another filled (the
relevance dots a query keeps, :mod:`ranking.features.kept_dots`), and each page and each stage
(recall sources, filters, features, model, adjusters, selectors:
:func:`bench.request_components.instrument`'s timers) is timed by its thread's CPU.
The arms, alternating page by page on :mod:`bench.merch_synonyms`' query mix and firing book:

* ``none``: no book;
* ``per_query``: the firing book with its terms computed per query and nothing kept per (word,
  terms) (``recall.synonym_words_kept=0``): as pages ranked it before stop 51;
* ``held``: the firing book with its terms held by the search index, as the service's
  merchandising follower holds them (:mod:`ranking.recall.held_terms`).

Prints and writes (``--out``) each arm's page CPU (p50, p99, mean ms), its candidates recalled and
rows ranked (after the filters), and each stage's mean CPU ms a page with its difference to
``none``. ``--queries``: how many of the mix (default 300).
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

import bench.request_components as rc
from bench.merch_synonyms import query_mix, synonym_sets
from ranking.engine import Engine
from ranking.merchandising.book import MerchandisingBook
from ranking.pipeline import RankRequest
from ranking.settings import load_settings

ARMS = ("none", "per_query", "held")
KEPT_OFF = "recall.search_results_kept=0"  # each arm's first page of a query is first-time (docs/recall.md)
WARM = ("warm up words", "大米 电饭煲", "cordless drill")  # code paths warmed with queries off the mix


def _instrument(engine: Engine) -> None:
    """The search pipeline's stages and components timed into ``rc.TOTALS``, and its rows ranked
    counted into ``rc.SCANS['rows ranked']`` (the model's batch)."""
    p = engine.pipelines["search"]
    for kind, parts, method in (("recall", p.sources, "recall"), ("filter", p.filters, "apply"),
                                ("adjust", p.adjusters, "apply"), ("select", p.selector.policies, "fill")):
        for part in parts:
            rc._wrap(part, method, f"{kind}: {getattr(part, 'name', type(part).__name__)}")
    p.extra_features = [rc._timed(f, f"hydrate: {rc._name(f)}") for f in p.extra_features]
    for stage in ("_recall", "_filter", "_hydrate"):
        rc._wrap(p, stage, f"stage {stage.strip('_')}")
    rc._wrap(p.selector, "place", "stage select")
    p.model.score = rc._timer(p.model.score, "model: score", size=lambda features, *a, **k: len(features))


def _request(engine: Engine, query: str, book: MerchandisingBook | None, seed: int) -> RankRequest:
    return RankRequest(surface="search", page_size=20, now_ms=engine.snapshot.as_of_ms, hour=12, query=query,
                       seed=seed, merchandising=book)


def run(bundle: Path, queries: int, sets: int = 10_000, seed: int = 7) -> dict:
    """Each arm's page CPU, candidates, rows ranked and stage split (module docstring)."""
    engines = {"none": Engine.load(bundle, load_settings([KEPT_OFF])),
               "per_query": Engine.load(bundle, load_settings([KEPT_OFF, "recall.synonym_words_kept=0"])),
               "held": Engine.load(bundle, load_settings([KEPT_OFF]))}
    try:
        book = MerchandisingBook(synonyms=tuple(synonym_sets(engines["none"], sets)))
        s = engines["held"].settings.merchandising  # as serving/merchandising.py holds them
        engines["held"].search.query_words.hold_book_terms(book.synonym_index, s)
        books = {"none": None, "per_query": book, "held": book}
        mix = query_mix(engines["none"], queries, seed)
        for arm, engine in engines.items():
            for query in WARM:
                engine.rank("search", _request(engine, query, books[arm], 0))
        rc.CLOCK["now"] = time.thread_time
        for engine in engines.values():
            _instrument(engine)
        gc.collect()
        per: dict[str, dict[str, float]] = {a: defaultdict(float) for a in ARMS}
        cpu: dict[str, list[float]] = {a: [] for a in ARMS}
        recalled: dict[str, list[int]] = {a: [] for a in ARMS}
        ranked: dict[str, int] = dict.fromkeys(ARMS, 0)
        for i, query in enumerate(mix):
            for arm in ARMS[i % 3:] + ARMS[:i % 3]:
                engine = engines[arm]
                before, rows = dict(rc.TOTALS), rc.SCANS["model: score"][1]
                started = time.thread_time()
                page = engine.rank("search", _request(engine, query, books[arm], i))
                cpu[arm].append((time.thread_time() - started) * 1000.0)
                recalled[arm].append(page.recalled)
                ranked[arm] += rc.SCANS["model: score"][1] - rows
                for key, total in rc.TOTALS.items():
                    per[arm][key] += total - before.get(key, 0.0)
        n = len(mix)
        load = Path("/proc/loadavg").read_text().split()[:3]
        out: dict = {"bundle": str(bundle), "queries": n, "load_average": load}
        for arm in ARMS:
            out[arm] = {"cpu_p50_ms": round(float(np.percentile(cpu[arm], 50)), 3),
                        "cpu_p99_ms": round(float(np.percentile(cpu[arm], 99)), 3),
                        "cpu_mean_ms": round(float(np.mean(cpu[arm])), 3),
                        "candidates": round(float(np.mean(recalled[arm])), 1),
                        "rows_ranked": round(ranked[arm] / n, 1)}
        stages = sorted(set().union(*per.values()), key=lambda k: -per["per_query"].get(k, 0.0))
        out["stages_ms"] = {k: {a: round(per[a].get(k, 0.0) / n * 1000.0, 3) for a in ARMS} for k in stages}
        return out
    finally:
        for engine in engines.values():
            engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    got = run(args.bundle, args.queries)
    print(f"load average {' '.join(got['load_average'])}, {got['queries']} queries, thread CPU ms a page")
    for arm in ARMS:
        a = got[arm]
        print(f"  {arm:9s} p50 {a['cpu_p50_ms']:6.3f} p99 {a['cpu_p99_ms']:6.3f} mean {a['cpu_mean_ms']:6.3f}"
              f"  candidates {a['candidates']:6.1f} rows ranked {a['rows_ranked']:6.1f}")
    heads = "".join(f"{a:>10s}" for a in ARMS)
    print(f"  {'stage (mean ms a page)':40s}{heads}  per_query-none  held-none")
    for key, by_arm in got["stages_ms"].items():
        if max(by_arm.values()) >= 0.01:
            none = by_arm["none"]
            print(f"  {key[:40]:40s}" + "".join(f"{by_arm[a]:10.3f}" for a in ARMS)
                  + f"  {by_arm['per_query'] - none:+14.3f}  {by_arm['held'] - none:+9.3f}")
    if args.out is not None:
        args.out.write_text(json.dumps(got, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
