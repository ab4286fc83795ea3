"""Lexical recall on the Home Depot split: BM25 alone against the query-word recall.

``python -m bench.search_lexical_speed --train T --test T`` indexes the split's titles with
BM25, corrects the test queries' spelling as ``eval home-depot`` does, and runs both lexical
recalls over them one after the other in this process: recall@100 of the relevant products
(relevance >= ``real_data.home_depot_relevant``) and queries per second, so the ratio holds
on a loaded machine.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ranking.recall.lexical import BM25Index
from ranking.recall.query_words import QueryWordMatcher
from ranking.recall.spelling import QuerySpeller
from ranking.settings import load_settings
from training.real_data.home_depot import read_pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    args = parser.parse_args()
    settings = load_settings([])
    r = settings.recall
    train, test = read_pairs(args.train), read_pairs(args.test)
    catalog = pd.concat([train, test]).drop_duplicates("product_uid").sort_values("product_uid")
    bm25 = BM25Index.build(catalog.product_title.tolist(), catalog.product_uid.to_numpy(np.int64),
                           k1=r.bm25_k1, b=r.bm25_b)
    speller = QuerySpeller(bm25.document_frequency(), min_df=r.spelling_min_df,
                           max_distance=r.spelling_max_distance, min_length=r.spelling_min_length,
                           min_length_two_edits=r.spelling_min_length_two_edits)
    relevant = (test[test.relevance >= settings.real_data.home_depot_relevant]
                .groupby("search_term").product_uid.apply(lambda s: set(s.astype(int))))
    queries = [speller.correct(q).text for q in relevant.index]
    words = QueryWordMatcher.of(bm25, r)
    for name, search in (("bm25", bm25.search), ("query_words", words.lexical)):
        started = time.perf_counter()
        found = [search(q, 100)[0] for q in queries]
        seconds = time.perf_counter() - started
        pairs = zip(found, relevant.values, strict=True)
        recall = np.mean([len(set(f.tolist()) & s) / len(s) for f, s in pairs])
        print(f"{name}: recall@100 {recall:.4f}, {len(queries) / seconds:.0f} queries/s")


if __name__ == "__main__":
    main()
