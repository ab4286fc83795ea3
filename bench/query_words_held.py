"""What marking a page's cards with a query word costs: ``python -m bench.query_words_held BUNDLE``.

A search page says which query words each card holds (:meth:`ranking.recall.query_words.
QueryWordMatcher.held`). Per word part it asks whether each of the page's 20 cards is in the
word's postings. This times that lookup over the bundle's ``--words`` most frequent vocabulary
columns (the longest postings: the words shoppers type most) for 20 random cards, both as
``held`` does it (:func:`~ranking.recall.query_words.in_sorted`, a binary search per card in the
sorted postings) and as it did before (``np.isin`` against the postings, which builds a table as
wide as the row range or sorts the postings on every call), and checks both answer alike.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--words", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from ranking.engine import Engine
    from ranking.recall.query_words import in_sorted
    from ranking.settings import load_settings

    engine = Engine.load(args.bundle, load_settings([]))
    try:
        matcher = engine.search.query_words
        df = np.diff(matcher.bm25.weights.indptr)
        columns = np.argsort(-df, kind="stable")[:args.words].tolist()
        cards = np.random.default_rng(1).integers(0, len(matcher.bm25.product_ids), 20)
        for j in columns:
            post = matcher._column_rows(j)
            assert in_sorted(cards, [post]).tolist() == np.isin(cards, post).tolist()
        ways = {"np.isin": lambda post: np.isin(cards, post),
                "in_sorted": lambda post: in_sorted(cards, [post])}
        for _ in range(args.rounds):
            timed = {}
            for name, way in ways.items():
                started = time.perf_counter()
                for j in columns:
                    way(matcher._column_rows(j))
                timed[name] = (time.perf_counter() - started) / len(columns) * 1e6
            print(", ".join(f"{name} {us:.1f} us per word part" for name, us in timed.items())
                  + f" (postings up to {int(df[columns[0]]):,} rows)")
    finally:
        engine.close()


if __name__ == "__main__":
    main()
