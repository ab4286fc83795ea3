"""A kept candidate list's filter work kept across requests (ranking/pipeline/kept_located.py, the
governance filter's kept decisions, the filters' one-reason arrays): a read-only list of ids (a
kept union's) is looked up in a table once, and its governance keep mask and reasons are made once
per code column; a swapped table, a ban or a new product is read anew; a list a request may still
write is never kept."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from rules_mall import rules_request, rules_snapshot

from ranking.features.snapshot import EntityTable
from ranking.pipeline.candidates import CandidateSet
from ranking.pipeline.filters import Governance, KnownProducts
from ranking.pipeline.filters.reasons import no_reasons, one_reason
from ranking.pipeline.kept_located import kept_located
from ranking.settings import RulesSettings


def _kept_list(ids) -> np.ndarray:
    """Ids as a kept union holds them: their own read-only array."""
    ids = np.array(ids, dtype=np.int64)
    ids.flags.writeable = False
    return ids


def _with(snapshot, ids=None, **columns):
    """The snapshot with a new products table (the live catalog's way: copies, swapped whole)."""
    cols = {**snapshot.products.columns, **columns}
    return replace(snapshot, products=EntityTable(snapshot.products.ids if ids is None else ids, cols))


def test_a_kept_lists_rows_are_looked_up_once_per_table() -> None:
    snap = rules_snapshot()
    ids = _kept_list([105, 999, 101])
    first = kept_located(snap.products, ids)
    assert kept_located(snap.products, ids) is first and not first[0].flags.writeable
    assert CandidateSet(ids).rows_in(snap.products) is first  # a new set over the same list
    assert first[0].tolist() == [5, 0, 1] and first[1].tolist() == [True, False, True]
    grown = np.r_[snap.products.ids, 999]  # a new product listed live: a new table
    bigger = _with(snap, grown, **{k: np.r_[v, v[:1]] for k, v in snap.products.columns.items()})
    after = kept_located(bigger.products, ids)
    assert after is not first and after[1].tolist() == [True, True, True]
    assert kept_located(snap.products, ids) is not after  # the old table: its own rows again
    writable = np.array([105, 101])
    assert kept_located(snap.products, writable) is not kept_located(snap.products, writable)
    assert KnownProducts().apply(CandidateSet(ids), rules_request(), snap)[0].tolist() == [True, False, True]


def test_a_kept_lists_governance_is_kept_per_code_column_and_a_ban_is_read_anew() -> None:
    snap = rules_snapshot()
    ids = _kept_list([100, 101, 102, 103])
    gov = Governance(RulesSettings())
    keep, why = gov.apply(CandidateSet(ids), rules_request(), snap)
    assert keep.all() and gov.apply(CandidateSet(ids), rules_request(), snap)[0] is keep
    banned = snap.products.columns["banned"].copy()
    banned[1] = 1
    later = _with(snap, banned=banned)
    keep, why = gov.apply(CandidateSet(ids), rules_request(), later)
    assert keep.tolist() == [True, False, True, True] and why[1] == "banned" and not keep.flags.writeable
    again = gov.apply(CandidateSet(ids), rules_request(), later)
    assert again[0] is keep and again[1] is why
    stock = snap.products.columns["stock"].copy()
    stock[3] = 0
    latest = _with(later, stock=stock)
    keep, why = gov.apply(CandidateSet(ids), rules_request(), latest)
    assert keep.tolist() == [True, False, True, False] and why[3] == "out_of_stock"
    off = Governance(RulesSettings(drop_banned=False))  # the switches are in the key
    assert off.apply(CandidateSet(ids), rules_request(), latest)[0].tolist() == [True, True, True, False]
    writable = np.array([100, 101])
    assert gov.apply(CandidateSet(writable), rules_request(), later)[0] is not \
        gov.apply(CandidateSet(writable), rules_request(), later)[0]


def test_one_reason_is_a_read_only_view_of_one_kept_array_per_reason() -> None:
    a, b = one_reason("below_relevance_floor", 3), one_reason("below_relevance_floor", 5000)
    assert a.tolist() == ["below_relevance_floor"] * 3 and len(b) == 5000 and not b.flags.writeable
    assert one_reason("below_relevance_floor", 7).base is b.base
    assert no_reasons(4).tolist() == [""] * 4
