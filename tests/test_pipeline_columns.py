"""The candidates' catalog columns: what EntityTable.take gives, rows looked up once per table."""

from __future__ import annotations

import numpy as np
from rules_mall import rules_snapshot, scored

from ranking.features.snapshot import EntityTable
from ranking.pipeline.columns import product_column


def test_product_column_is_the_tables_take_with_missing_for_unknown_products():
    snap = rules_snapshot()
    c = scored(snap, [101, 999, 100])
    rows = snap.products.rows(c.product_ids)
    for column in snap.products.columns:
        np.testing.assert_array_equal(product_column(snap, c, column, missing=-7.0),
                                      snap.products.take(column, rows, missing=-7.0))
    assert product_column(snap, c, "price", missing=-7.0)[1] == -7.0
    assert (product_column(snap, c, "no_such_column", missing=3.0) == 3.0).all()


def test_rows_are_looked_up_once_and_anew_for_a_swapped_table_or_another_candidate_set():
    snap = rules_snapshot()
    c = scored(snap, [100, 101, 102])
    first = c.rows_in(snap.products)
    assert c.rows_in(snap.products)[0] is first[0]  # cached on the candidate set
    # the live catalog swaps the table whole: a product listed since is known in the new one
    old = snap.products
    snap.products = EntityTable(np.r_[old.ids, 5], {k: np.r_[v, v[:1]] for k, v in old.columns.items()})
    assert snap.products.rows(np.array([5]))[0] == len(old.ids)  # appended below: unsorted lookup
    again = c.rows_in(snap.products)
    assert again[0] is not first[0]
    np.testing.assert_array_equal(again[0], first[0])
    added = scored(snap, [5, 100])
    assert added.rows_in(snap.products)[1].all()
    taken = c.take(np.array([2, 0]))
    np.testing.assert_array_equal(taken.rows_in(snap.products)[0], first[0][[2, 0]])
