"""The relevance features' served shapes give what the general code gives: off search (a
homepage, a rerank) every relevance feature reads one read-only float32 NaN column made once per
batch; a served search (every candidate on search with one query) reads its query's intent row,
word count and dense cosines once, the same values as the per-candidate masks and gathers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ranking.features import relevance_features as rel
from ranking.features.inputs import Requests, build_inputs
from ranking.features.registry import compute_features, feature_names
from ranking.features.snapshot import FeatureSnapshot
from ranking.settings import Settings
from training.data.mall_data import load_mall
from training.learning.dataset import DAY_MS, mall_day_zero_ms
from training.learning.snapshot_builder import build_snapshot

RELEVANCE = ("lexical_score", "term_overlap", "char_overlap", "category_intent", "brand_match",
             "query_length",
             "dense_similarity")


@pytest.fixture(scope="module")
def snapshot(small_mall: Path) -> FeatureSnapshot:
    mall = load_mall(small_mall)
    return build_snapshot(mall, mall_day_zero_ms(mall, "Asia/Shanghai") + 20 * DAY_MS, Settings())


def _inputs(snapshot: FeatureSnapshot, query: str | None, ids: np.ndarray):
    user = int(snapshot.users.ids[0])
    req = Requests(np.array([user]), [query], np.array([9]), np.array([0 if query else 1]))
    x = build_inputs(snapshot, ids, np.zeros(len(ids), np.int64), req)
    x.extra["dense_similarity"] = np.random.default_rng(len(ids)).random(len(ids)).astype(np.float32)
    return x


def test_off_search_every_relevance_feature_reads_one_read_only_nan_column(snapshot) -> None:
    x = _inputs(snapshot, None, snapshot.products.ids[:40])
    cols = [getattr(rel, name)(x) for name in RELEVANCE]
    assert all(col is cols[0] for col in cols)
    assert cols[0].dtype == np.float32 and cols[0].shape == (40,) and np.isnan(cols[0]).all()
    assert not cols[0].flags.writeable
    matrix = compute_features(_inputs(snapshot, None, snapshot.products.ids[:40]))
    at = [feature_names().index(name) for name in RELEVANCE]
    assert np.isnan(matrix[:, at]).all()


@pytest.mark.parametrize("unknown", [False, True])
def test_a_served_search_reads_its_query_once_with_the_general_code_s_values(snapshot, unknown, monkeypatch):
    words = [w for w in snapshot.text.vocabulary if len(w) >= 3][:2]
    ids = np.r_[snapshot.products.ids[:60], [-5]] if unknown else snapshot.products.ids[:60]
    x = _inputs(snapshot, " ".join(words), ids)
    x.leaf = x.leaf.copy()
    x.leaf[::7] = -1  # candidates of unknown leaf
    assert (rel._one_query(x) is None) == unknown  # an unknown product is not on search
    got = {name: np.asarray(getattr(rel, name)(x)) for name in RELEVANCE}
    x.shared.clear()
    monkeypatch.setattr(rel, "_one_query", lambda x: None)
    want = {name: np.asarray(getattr(rel, name)(x)) for name in RELEVANCE}
    for name in RELEVANCE:
        a, b = got[name].astype(np.float32), want[name].astype(np.float32)  # as compute_features writes
        assert np.array_equal(a.view(np.int32), b.view(np.int32)), name
    assert np.isnan(got["category_intent"][::7]).all() and not np.isnan(got["query_length"][:60]).any()
    assert (got["category_intent"][1:7] > 0).any()
