"""Lexical recall alone, with and without the operator's synonyms: ``python -m bench.lexical_rows BUNDLE``.

Loads ``BUNDLE`` as the service does (``Engine.load``), builds :mod:`bench.merch_synonyms`'
10,000 firing synonym sets (``--sets``: every catalog word in two sets, so every query here
rewrites) and its query mix (``--queries``: the README's queries, then catalog title words and
pairs), and times ``SearchRecall.lexical`` for each query without its rewrite (``none``) and
with it (``synonyms``), ``--rounds`` times, on this thread (no pool, no page around it): mean
CPU ms per query (``time.thread_time``, which a shared machine moves less than wall) and
p50/p99 wall ms per arm, for the first round (``first``: each query scored; a query the mix
repeats is kept from its first time) and the later ones (``again``: the kept results,
``recall.search_results_kept``), and how many products a query's rewritten recall ranks before
its top ``k`` (``synonyms_recalled_p50``/``p90``). At 1M products a first-time query's lexical
recall is most of a search page (docs/speed.md, "Stop 40").
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from bench.merch_synonyms import query_mix, synonym_arguments, synonym_sets
from ranking.engine import Engine
from ranking.merchandising.book import MerchandisingBook
from ranking.settings import load_settings


def measure(engine: Engine, queries: list[str], rewrites: list, rounds: int) -> dict:
    """Per arm: mean CPU ms and p50/p99 wall ms of one query's lexical recall, the first time
    each query is asked (``first``: scored) and in the later rounds (``again``: kept)."""
    search, k = engine.search, engine.settings.recall.candidates
    out: dict[str, float] = {}
    for arm, carried in (("none", [None] * len(queries)), ("synonyms", rewrites)):
        for label, repeats in (("first", 1), ("again", rounds - 1)):
            walls, cpu = [], 0.0
            for _ in range(repeats):
                for query, rewrite in zip(queries, carried, strict=True):
                    started, clock = time.perf_counter(), time.thread_time()
                    search.lexical(query, k, rewrite)
                    cpu += time.thread_time() - clock
                    walls.append((time.perf_counter() - started) * 1000.0)
            if walls:
                out[f"{arm}_{label}_cpu_ms"] = round(cpu * 1000.0 / len(walls), 3)
                out |= {f"{arm}_{label}_p{q}_ms": round(float(np.percentile(walls, q)), 3) for q in (50, 99)}
    return out


def recalled(engine: Engine, queries: list[str], rewrites: list) -> dict:
    """How many products each query's lexical recall ranks before its top ``k`` (holding a word
    or a synonym term: the rows it scores), with its rewrite: p50 and p90 over the mix."""
    search = engine.search
    held = [int(search.query_words.scores(q, r, search.synonym_weight)[1].sum())
            for q, r in zip(queries, rewrites, strict=True)]
    return {f"synonyms_recalled_p{q}": int(np.percentile(held, q)) for q in (50, 90)}


def run(bundle: Path, sets: int, queries: int, rounds: int, seed: int = 7) -> dict:
    engine = Engine.load(bundle, load_settings([]))
    try:
        index = MerchandisingBook(synonyms=tuple(synonym_sets(engine, sets))).synonym_index
        mix = query_mix(engine, queries, seed)
        rewrites = [index.rewrite(q) for q in mix]
        warm = [q for q in query_mix(engine, 40, seed + 1) if q not in mix][:20]  # first touches
        measure(engine, warm, [index.rewrite(q) for q in warm], 1)
        return {"bundle": bundle.resolve().name, "products": len(engine.search.product_ids), "sets": sets,
                "queries": len(mix), "distinct": len(set(mix)), "rewritten": sum(bool(r) for r in rewrites),
                "rounds": rounds, **measure(engine, mix, rewrites, rounds), **recalled(engine, mix, rewrites)}
    finally:
        engine.close()


def main() -> None:
    parser = synonym_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(json.dumps(run(args.bundle, args.sets, args.queries, args.rounds)))


if __name__ == "__main__":
    main()
