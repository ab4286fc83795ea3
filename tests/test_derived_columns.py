"""Product columns derived once per catalog version (ranking/pipeline/derived_columns.py): the same
values as reading each candidate's columns per request, built again when a column is swapped."""

from __future__ import annotations

import gc
import weakref

import numpy as np
from rules_mall import rules_request, rules_snapshot, scored

from ranking.pipeline.adjusters.theme_boost import THEME_SLOTS, ThemeBoost, slot_now
from ranking.pipeline.candidates import CandidateSet
from ranking.pipeline.columns import product_column
from ranking.pipeline.derived_columns import LEAF_POSITIONS, DerivedColumn, narrowest
from ranking.pipeline.traffic_grades import (
    GRADE_LETTERS,
    candidate_grades,
    candidate_store_scores,
    eligible_candidates,
    grade_codes,
    ineligible_why,
)
from ranking.settings import RulesSettings


def _per_request(snap, cands):
    """What the adjusters read before the columns were derived once."""
    grades = grade_codes(product_column(snap, cands, "product_score", missing=np.nan))
    store_ids = product_column(snap, cands, "store_id", missing=-1).astype(np.int64)
    scores = snap.stores.take("store_experience_score", snap.stores.rows(store_ids), missing=np.nan)
    leaf = snap.leaf_of_category(product_column(snap, cands, "category_id", missing=-1).astype(np.int64))
    return grades, scores, np.where(leaf >= 0, snap.leaf_theme_slot[np.maximum(leaf, 0)], -1)


def _derived(snap, cands):
    cols = snap.products.columns
    return (candidate_grades(snap, cands), candidate_store_scores(snap, cands),
            THEME_SLOTS.candidates(snap.products, cands, cols["category_id"], snap, snap.leaf_ids,
                                   snap.leaf_theme_slot))


def test_derived_columns_read_as_the_per_request_columns_and_follow_a_swapped_column():
    snap = rules_snapshot()
    rng = np.random.default_rng(2)
    snap.products.columns["product_score"] = rng.uniform(0, 100, 30).astype(np.float32)
    snap.products.columns["product_score"][3] = np.nan
    snap.stores.columns["store_experience_score"] = np.array([85, np.nan, 15], dtype=np.float32)
    cands = CandidateSet(np.array([105, 999_999, 100, 103, 129, 112]))  # one the table does not know
    for got, want in zip(_derived(snap, cands), _per_request(snap, cands), strict=True):
        np.testing.assert_array_equal(got, want)
    # the live catalog swaps a changed column (and the table) whole: the next read follows it
    snap.products.columns["product_score"] = np.full(30, 10.0, np.float32)
    snap.stores.columns["store_experience_score"] = np.array([1, 2, 3], dtype=np.float32)
    cands = CandidateSet(cands.product_ids)
    for got, want in zip(_derived(snap, cands), _per_request(snap, cands), strict=True):
        np.testing.assert_array_equal(got, want)
    assert (candidate_grades(snap, cands)[[0, 2]] == grade_codes(np.array([10.0, 10.0]))).all()


def test_narrowest_holds_every_value_exactly_in_the_narrowest_signed_type():
    for values, dtype in (([-1, 0, 3], np.int8), ([-128, 127], np.int8), ([-1, 128], np.int16),
                          ([-32_769, 5], np.int32), ([0, 2**31 - 1], np.int32), ([-1, 2**31], np.int64),
                          ([2**62], np.int64)):
        got = narrowest(np.array(values, np.int64))
        assert got.dtype == dtype, values
        assert got.tolist() == values
    assert narrowest(np.zeros(0, np.int64)).dtype == np.int64


def test_grades_and_leaf_positions_are_narrow_and_read_as_before():
    snap = rules_snapshot()
    snap.products.columns["product_score"] = np.random.default_rng(4).uniform(0, 100, 30).astype(np.float32)
    snap.products.columns["product_score"][3] = np.nan
    cands = CandidateSet(np.array([105, 999_999, 100, 103, 129, 112]))
    grades = candidate_grades(snap, cands)
    assert grades.dtype == np.int8  # -1..3: a 1-byte column, not 8
    np.testing.assert_array_equal(grades, grade_codes(product_column(snap, cands, "product_score",
                                                                     missing=np.nan)))
    cols = snap.products.columns
    leaf = LEAF_POSITIONS.candidates(snap.products, cands, cols["category_id"], snap, snap.leaf_ids)
    assert leaf.dtype == np.int8 and len(snap.leaf_ids) < 128
    want = snap.leaf_of_category(product_column(snap, cands, "category_id", missing=-1).astype(np.int64))
    np.testing.assert_array_equal(leaf, want)
    assert leaf[1] == -1  # the unknown product


def test_a_derived_column_is_built_once_per_version_of_its_sources():
    built = []
    column = DerivedColumn(lambda a, b: built.append(1) or np.r_[a + b, -1])
    a, b = np.arange(3.0), np.ones(3)
    assert column.of(a, b).tolist() == [1, 2, 3, -1] and column.of(a, b).tolist() == [1, 2, 3, -1]
    assert len(built) == 1
    assert column.of(a.copy(), b).tolist() == [1, 2, 3, -1] and len(built) == 2  # an equal but new array


def test_a_derived_column_keeps_a_few_versions_weakly_and_drops_those_whose_sources_are_gone():
    built = []
    column = DerivedColumn(lambda a, lines: built.append(1) or np.r_[a * lines[0], -1])
    lines = (2.0,)  # a tuple cannot be weakly referenced: held as it is
    arms = [np.arange(3.0), np.arange(3.0) + 1]  # two tables read in turn (two arms' bundles)
    for _ in range(3):
        assert column.of(arms[0], lines).tolist() == [0, 2, 4, -1]
        assert column.of(arms[1], lines).tolist() == [2, 4, 6, -1]
    assert len(built) == 2
    gone = weakref.ref(arms[1])
    del arms[1]
    gc.collect()
    assert gone() is None  # a kept version does not keep its source alive
    column.of(np.ones(3), lines)  # a new version: the one whose source is gone is dropped
    assert len(column._memo) == 2
    for k in range(DerivedColumn.VERSIONS + 2):  # at most VERSIONS kept, the oldest out
        arms.append(np.full(3, float(k)))
        column.of(arms[-1], lines)
    assert len(column._memo) == DerivedColumn.VERSIONS
    assert column.of(arms[-1], lines).tolist() == [2 * arms[-1][0]] * 3 + [-1]
    before = len(built)
    column.of(arms[0], lines)  # pushed out: built again
    assert len(built) == before + 1


def _theme_by_candidate(snap, cands, rules, hour):
    """Theme boost's moves and notes read per candidate, as before the theme codes were kept."""
    theme = _derived(snap, cands)[2] == slot_now(hour)
    eligible, codes, _ = eligible_candidates(snap, cands, rules)
    hit = theme & eligible if rules.traffic_policy else theme
    notes = [[] for _ in range(len(cands))]
    for i in np.flatnonzero(theme & ~hit).tolist():
        grade = GRADE_LETTERS[codes[i]]
        key = "" if grade in rules.traffic_slot_grades else grade
        notes[i] = [{"rule": "traffic_policy", "why": f"not in the {hour:02d}:00 campaign: "
                     + ineligible_why(key, rules)}]
    for i in np.flatnonzero(hit).tolist():
        notes[i] = [{"rule": "theme_boost", "why": f"category is the theme at {hour:02d}:00"}]
    return hit, notes


def test_theme_codes_read_as_each_candidates_grade_store_and_theme_and_follow_what_they_depend_on():
    """The theme code per product and slot (``THEME_CODES``) is kept per product table, store table
    and policy: a swapped score column, store column or other settings are read anew."""
    snap = rules_snapshot()
    rng = np.random.default_rng(5)
    ids = np.array([105, 999_999, 100, 103, 129, 112, 101, 118, 104])
    policies = [RulesSettings(theme_boost=0.5), RulesSettings(theme_boost=0.5, traffic_policy=False),
                RulesSettings(theme_boost=0.5, traffic_slot_grades=["A", "C"],
                              traffic_slot_min_store_score=20)]
    for version in range(3):  # the live catalog swaps a changed column whole, never writes one
        snap.products.columns["product_score"] = rng.uniform(0, 100, 30).astype(np.float32)
        snap.products.columns["product_score"][[3, 5]] = np.nan
        snap.stores.columns["store_experience_score"] = rng.uniform(0, 100, 3).astype(np.float32)
        for rules in policies:
            for hour in (9, 14, 20):
                c = scored(snap, ids)
                ThemeBoost(rules).apply(c, rules_request(hour=hour), snap)
                hit, notes = _theme_by_candidate(snap, c, rules, hour)
                assert (c.adjustments != 0).tolist() == hit.tolist(), (version, rules, hour)
                got = [[{k: v for k, v in n.items() if k != "delta"} for n in c.rule_notes[i]]
                       for i in range(len(ids))]
                assert got == notes, (version, rules, hour)


def test_the_candidates_index_is_kept_per_set_of_located_rows_and_read_anew_for_another():
    """A page's five or six derived reads share one index per set of located rows and thread: a
    set taken from it, another set, or a set made where a freed one was are read as their own."""
    snap = rules_snapshot()
    column = DerivedColumn(lambda ids: np.r_[ids * 10, -7])
    ids = snap.products.ids

    def read(product_ids):
        cands = CandidateSet(np.asarray(product_ids, np.int64))
        return column.candidates(snap.products, cands, ids).tolist(), cands

    first, cands = read([101, 999, 105])
    assert first == [1010, -7, 1050] and column.candidates(snap.products, cands, ids).tolist() == first
    page = cands.take(np.array([2, 1]))
    assert column.candidates(snap.products, page, ids).tolist() == [1050, -7]
    assert column.candidates(snap.products, cands, ids).tolist() == first
    del cands, page
    for product_ids in ([103, 102, 998], [999, 100, 129], [110, 111, 112]):  # maybe at freed addresses
        got, _ = read(product_ids)
        assert got == [p * 10 if p < 130 else -7 for p in product_ids]


def test_a_set_of_known_candidates_reads_at_its_rows_without_making_an_index(monkeypatch):
    import ranking.pipeline.derived_columns as derived

    snap = rules_snapshot()
    column = DerivedColumn(lambda ids: np.r_[ids * 10, -7])
    ids = snap.products.ids
    made = []
    real = derived._candidate_index
    monkeypatch.setattr(derived, "_candidate_index", lambda *at: made.append(1) or real(*at))
    known = CandidateSet(np.array([105, 100, 129, 105]))
    assert column.candidates(snap.products, known, ids).tolist() == [1050, 1000, 1290, 1050]
    assert column.candidates(snap.products, known.take(np.array([2, 0])), ids).tolist() == [1290, 1050]
    assert not made  # every row known: the located rows are the index
    assert column.candidates(snap.products, CandidateSet(np.array([101, 999])), ids).tolist() == [1010, -7]
    assert made == [1]


class _Source:
    """A weakly referenceable source whose blocks CPython's allocator hands on at once."""

    def __init__(self, value: float) -> None:
        self.value = value


def test_a_new_source_at_a_freed_sources_address_is_built_anew():
    """An entry is found by its sources' addresses: one whose weakly held source was freed is not
    taken for a new object that the allocator put at the same address."""
    column = DerivedColumn(lambda a, lines: np.array([a.value * lines[0], -1]))
    lines = (2.0,)
    reused = 0
    for k in range(50):
        a = _Source(float(k))
        address = id(a)
        assert column.of(a, lines).tolist() == [2 * k, -1]
        del a
        b = _Source(k + 0.5)  # most often at the freed source's address
        reused += id(b) == address
        assert column.of(b, lines).tolist() == [2 * k + 1, -1]
        del b
    assert reused  # the case above was met (CPython hands a freed object's block to the next one)


def test_a_kept_version_is_found_by_its_sources_and_not_by_equal_ones():
    column = DerivedColumn(lambda a, lines: np.r_[a * lines[0], -1])
    a = np.arange(3.0)
    first = column.of(a, tuple([2.0]))
    assert column.of(a, tuple([2.0])) is not first  # an equal but other tuple: as `is` read it before
    kept = column.of(a, lines := (3.0,))
    assert column.of(a, lines) is kept
