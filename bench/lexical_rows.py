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

``--guess``: instead, each distinct query of the mix scored with its rewrite with
:func:`ranking.recall.lexical.above_guess` (a large catalog's top ``k`` from the rows above a
guessed threshold) and without it (every positive row), one after the other, every pair of results
asserted equal, in two passes over the queries: the first arm of a query builds its words, tokens,
synonym matches and terms and the second reads them kept, so each pass starts from those memos
empty and the second puts the other arm first for every query (each arm is first once a query).
Thread CPU ms per recall of each arm over both passes (``guess_*``, ``every_row_*``; a recall's top
``k`` is never read kept), and how many queries the guess kept rows for (``guessed``).
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
from ranking.recall import lexical
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


def guess_or_not(engine: Engine, queries: list[str], rewrites: list) -> dict:
    """Each query's lexical recall (its rewrite, its top ``k`` not kept) with the guess and with
    every row, in two passes of opposite orders on empty memos; thread CPU ms of each arm (module
    docstring)."""
    matcher, k = engine.search.query_words, engine.settings.recall.candidates
    weight, sample = engine.search.synonym_weight, lexical.GUESS_SAMPLE
    cpu: dict[str, list[float]] = {"guess": [], "every_row": []}
    kept_rows: set[int] = set()
    guess, current = lexical.above_guess, [-1]

    def counted(*args, **kwargs):
        got = guess(*args, **kwargs)
        if got is not None:  # (never in the every-row arm: no stride of 8 there)
            kept_rows.add(current[0])
        return got

    lexical.above_guess = counted  # what lexical.ranked_rows calls, for the matcher and BM25Index.search
    try:
        for first in ("guess", "every_row"):
            # what a first-time query builds: its matches, terms, words with their terms, words, tokens
            for memo in ("_matches", "_terms", "_large_terms", "_words_with_terms"):
                setattr(matcher, memo, type(getattr(matcher, memo))(getattr(matcher, memo).size))
            matcher.words.cache_clear()  # (each pass's first arm pays for them)
            matcher.tokens.cache_clear()
            for i, (query, rewrite) in enumerate(zip(queries, rewrites, strict=True)):
                current[0], got = i, {}
                for arm in (first, "every_row" if first == "guess" else "guess"):
                    lexical.GUESS_SAMPLE = sample if arm == "guess" else 1 << 62
                    started = time.thread_time()
                    got[arm] = matcher._lexical(query, k, rewrite, weight)  # not the kept results
                    cpu[arm].append(1000 * (time.thread_time() - started))
                (ids, scores), (every_ids, every_scores) = got["guess"], got["every_row"]
                if ids.tolist() != every_ids.tolist() or scores.tobytes() != every_scores.tobytes():
                    raise AssertionError(f"the guess changed the recall of {query!r}")
    finally:
        lexical.GUESS_SAMPLE, lexical.above_guess = sample, guess
    out: dict = {"guessed": len(kept_rows)}
    for arm, values in cpu.items():
        out[f"{arm}_cpu_ms"] = round(float(np.mean(values)), 3)
        out.update({f"{arm}_p{q}_ms": round(float(np.percentile(values, q)), 3) for q in (50, 90, 99)})
    return out


def run(bundle: Path, sets: int, queries: int, rounds: int, seed: int = 7, guess: bool = False) -> dict:
    engine = Engine.load(bundle, load_settings([]))
    try:
        index = MerchandisingBook(synonyms=tuple(synonym_sets(engine, sets))).synonym_index
        mix = query_mix(engine, queries, seed)
        rewrites = [index.rewrite(q) for q in mix]
        warm = [q for q in query_mix(engine, 40, seed + 1) if q not in mix][:20]  # first touches
        measure(engine, warm, [index.rewrite(q) for q in warm], 1)
        if guess:
            distinct = dict(zip(mix, rewrites, strict=True))  # each query once, with its rewrite
            return {"bundle": bundle.resolve().name, "products": len(engine.search.product_ids), "sets": sets,
                    "queries": len(distinct), **guess_or_not(engine, list(distinct), list(distinct.values()))}
        return {"bundle": bundle.resolve().name, "products": len(engine.search.product_ids), "sets": sets,
                "queries": len(mix), "distinct": len(set(mix)), "rewritten": sum(bool(r) for r in rewrites),
                "rounds": rounds, **measure(engine, mix, rewrites, rounds), **recalled(engine, mix, rewrites)}
    finally:
        engine.close()


def main() -> None:
    parser = synonym_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--guess", action="store_true", help="the top k from a guessed threshold against "
                        "every row, alternated query by query (module docstring)")
    args = parser.parse_args()
    print(json.dumps(run(args.bundle, args.sets, args.queries, args.rounds, guess=args.guess)))


if __name__ == "__main__":
    main()
