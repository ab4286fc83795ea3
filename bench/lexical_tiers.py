"""A large catalog's lexical tiers against the exact recall: what they find, and what they cost.

``python -m bench.lexical_tiers pairs CSV [--share 0.05 0.02] [--k 100 500]`` reads judged (query,
product) pairs (columns ``product_uid, product_title, search_term, relevance``: Home Depot's, or a
mall's own with relevance 1-3), indexes every title with BM25 as ``eval home-depot`` does, corrects
the queries' spelling, and for each cap (``--share``: each word's postings kept, as a share of the
catalog: the 1M catalog's default 20,000 is 2%) reports recall@k of the relevant products
(relevance >= ``real_data.home_depot_relevant``) and the overlap of the top ``k`` with the exact
recall's, exact first.

``python -m bench.lexical_tiers bundle BUNDLE [--queries 300] [--sets 10000]`` loads the bundle as
the service does, with the exact recall (whatever its size), builds the tiers the settings describe
(``recall.lexical_postings_per_term``, ``recall.lexical_rescore_multiple``; ``--set`` to change)
over its index, holds :mod:`bench.merch_synonyms`' firing book's terms as the service's follower
does, and asks each distinct query of its mix once of each (a first-time query: nothing kept),
the two alternating which goes first: thread CPU ms a query (mean, p50, p99) with and without the
rewrite, the overlap of the top ``recall.candidates`` with the exact recall's, and the tiers'
build seconds and postings.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ranking.recall.lexical import BM25Index
from ranking.recall.lexical_tiers import TieredLexical
from ranking.recall.query_words import QueryWordMatcher
from ranking.recall.search import speller_of
from ranking.settings import Settings, load_settings
from training.real_data.home_depot import read_pairs


def overlap(got: list[np.ndarray], exact: list[np.ndarray]) -> float:
    """Mean share of each exact list's ids that ``got``'s list holds too."""
    shares = [len(np.intersect1d(g, e)) / max(len(e), 1) for g, e in zip(got, exact, strict=True)]
    return float(np.mean(shares))


def judged(path: Path, settings: Settings) -> tuple[BM25Index, list[str], list[set[int]]]:
    """The titles' BM25 index, the spelling-corrected queries and each one's relevant products."""
    pairs = read_pairs(path)
    catalog = pairs.drop_duplicates("product_uid").sort_values("product_uid")
    r = settings.recall
    bm25 = BM25Index.build(catalog.product_title.tolist(), catalog.product_uid.to_numpy(np.int64),
                           k1=r.bm25_k1, b=r.bm25_b)
    _, correct = speller_of(bm25, r)
    relevant = (pairs[pairs.relevance >= settings.real_data.home_depot_relevant]
                .groupby("search_term").product_uid.apply(lambda s: set(s.astype(int))))
    return bm25, [correct(q).text for q in relevant.index], list(relevant.values)


def pairs_report(path: Path, shares: list[float], ks: list[int], settings: Settings) -> dict:
    bm25, queries, relevant = judged(path, settings)
    whole = QueryWordMatcher.of(bm25, settings.recall)
    n = len(bm25.product_ids)
    out: dict = {"products": n, "queries": len(queries), "multiple": settings.recall.lexical_rescore_multiple}
    for k in ks:
        exact = [whole.lexical(q, k)[0] for q in queries]
        out[f"exact_recall@{k}"] = _recall(exact, relevant)
        for share in shares:
            per_term = max(int(share * n), 1)
            tiers = TieredLexical(whole, per_term, settings.recall.lexical_rescore_multiple, settings.recall)
            got = [tiers.lexical(q, k)[0] for q in queries]
            out[f"share_{share}_recall@{k}"] = _recall(got, relevant)
            out[f"share_{share}_overlap@{k}"] = round(overlap(got, exact), 4)
    return out


def _recall(found: list[np.ndarray], relevant: list[set[int]]) -> float:
    shares = [len(set(f.tolist()) & s) / len(s) for f, s in zip(found, relevant, strict=True)]
    return round(float(np.mean(shares)), 4)


def bundle_report(bundle: Path, queries: int, sets: int, overrides: list[str]) -> dict:
    from bench.merch_synonyms import query_mix, synonym_sets
    from ranking.engine import Engine
    from ranking.merchandising.book import MerchandisingBook

    settings = load_settings(overrides)  # the exact recall, whatever the catalog's size:
    engine = Engine.load(bundle, load_settings([*overrides, f"recall.lexical_exact_max={1 << 62}"]))
    try:
        r, whole = settings.recall, engine.search.query_words
        started = time.perf_counter()
        tiers = TieredLexical(whole, r.lexical_postings_per_term, r.lexical_rescore_multiple, r)
        built = time.perf_counter() - started
        index = MerchandisingBook(synonyms=tuple(synonym_sets(engine, sets))).synonym_index
        whole.hold_book_terms(index, engine.settings.merchandising)
        mix = list(dict.fromkeys(query_mix(engine, queries, 7)))
        out: dict = {"bundle": bundle.resolve().name, "products": len(whole.bm25.product_ids),
                     "per_term": r.lexical_postings_per_term, "multiple": r.lexical_rescore_multiple,
                     "tiers_build_s": round(built, 2), "postings": int(whole.bm25.weights.nnz),
                     "first_tier_postings": int(tiers.first.bm25.weights.nnz), "queries": len(mix)}
        for arm, rewrites in (("typed", [None] * len(mix)), ("synonyms", [index.rewrite(q) for q in mix])):
            out |= _first_times(arm, mix, rewrites, whole, tiers, r.candidates)
        return out
    finally:
        engine.close()


def _first_times(arm: str, mix: list[str], rewrites: list, whole: QueryWordMatcher, tiers: TieredLexical,
                 k: int) -> dict:
    """Each query once of each recall (first-time: the mix holds each once), alternating which goes
    first: thread CPU ms, and the overlap of the tiers' top ``k`` with the exact one's."""
    cpu: dict[str, list[float]] = {"exact": [], "tiers": []}
    got: dict[str, list[np.ndarray]] = {"exact": [], "tiers": []}
    recalls = {"exact": whole.lexical, "tiers": tiers.lexical}
    for i, (query, rewrite) in enumerate(zip(mix, rewrites, strict=True)):
        for name in (("exact", "tiers") if i % 2 else ("tiers", "exact")):
            clock = time.thread_time()
            ids, _ = recalls[name](query, k, rewrite)
            cpu[name].append((time.thread_time() - clock) * 1000.0)
            got[name].append(ids)
    out = {f"{arm}_overlap@{k}": round(overlap(got["tiers"], got["exact"]), 4)}
    for name, ms in cpu.items():
        out |= {f"{arm}_{name}_cpu_ms_mean": round(float(np.mean(ms)), 3),
                **{f"{arm}_{name}_cpu_ms_p{q}": round(float(np.percentile(ms, q)), 3) for q in (50, 99)}}
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    sub = parser.add_subparsers(dest="what", required=True)
    pairs = sub.add_parser("pairs", help="judged (query, product) pairs: recall@k and overlap")
    pairs.add_argument("csv", type=Path)
    pairs.add_argument("--share", type=float, nargs="+", default=[0.05, 0.02, 0.01])
    pairs.add_argument("--k", type=int, nargs="+", default=[100, 500])
    bundle = sub.add_parser("bundle", help="a bundle's first-time queries: CPU and overlap")
    bundle.add_argument("bundle", type=Path)
    bundle.add_argument("--queries", type=int, default=300)
    bundle.add_argument("--sets", type=int, default=10_000)
    args = parser.parse_args(argv)
    if args.what == "pairs":
        print(json.dumps(pairs_report(args.csv, args.share, args.k, load_settings(args.set))))
    else:
        print(json.dumps(bundle_report(args.bundle, args.queries, args.sets, args.set)))


if __name__ == "__main__":
    main()
