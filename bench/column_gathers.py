"""Reading candidates' product columns one by one against one row-major gather, by catalog size:
``python -m bench.column_gathers [--columns 30] [--candidates 500]``.

A page reads ~26 product columns of its ~500 candidates through ``EntityTable.take_located``
(one gather, an ``astype`` and a ``where`` per column; a profile of the app's homepage counts
~26 calls a page). Each column is its own array, so at 1M products every candidate's value
in every column is a cache miss; a row-major matrix of the same columns reads each candidate's
values from one or two cache lines. Random float32 columns, 64 pages of random rows read in
turn; prints ms per page-worth of reads, the best of 5 rounds of 200, at 50,000 and 1,000,000
products. No bundle needed.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def best_ms(read, rounds: int = 5, calls: int = 200) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            read()
        times.append((time.perf_counter() - started) / calls * 1e3)
    return round(min(times), 4)


def reads(products: int, width: int, candidates: int, rng: np.random.Generator) -> dict[str, float]:
    """Both ways of reading ``width`` columns of ``candidates`` rows of a ``products``-row table."""
    columns = [rng.random(products).astype(np.float32) for _ in range(width)]
    matrix = np.stack(columns, axis=1)
    pages = [rng.choice(products, candidates, replace=False) for _ in range(64)]  # a page's rows each
    turn = iter(range(1 << 62))

    def by_column() -> None:
        rows = pages[next(turn) % len(pages)]
        known = rows >= 0
        for column in columns:  # what take_located does per column
            np.where(known, column[rows].astype(np.float64), np.nan)

    def by_row() -> None:
        block = matrix[pages[next(turn) % len(pages)]]
        for j in range(width):
            block[:, j].astype(np.float64)

    def row_gather() -> None:
        matrix[pages[next(turn) % len(pages)]]

    return {"by_column_ms": best_ms(by_column), "one_row_gather_ms": best_ms(row_gather),
            "row_gather_then_columns_ms": best_ms(by_row)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--columns", type=int, default=30)
    parser.add_argument("--candidates", type=int, default=500)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(json.dumps({products: reads(products, args.columns, args.candidates, rng)
                      for products in (50_000, 1_000_000)}))


if __name__ == "__main__":
    main()
