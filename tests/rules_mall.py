"""A small hand-made catalog for the rules and selector tests: 30 products over 3 stores and 2 leaves."""

from __future__ import annotations

import numpy as np

from ranking.features.snapshot import EntityTable, FeatureSnapshot
from ranking.pipeline.candidates import CandidateSet, RankRequest


def rules_snapshot(n: int = 30, stores: int = 3) -> FeatureSnapshot:
    ids = np.arange(100, 100 + n, dtype=np.int64)
    cols = {
        "store_id": (np.arange(n) % stores).astype(np.float32),
        "category_id": np.where(np.arange(n) < n // 2, 11, 12).astype(np.float32),
        "top_category_id": np.full(n, 1, dtype=np.float32),
        "price": np.linspace(10, 100, n).astype(np.float32),
        "stock": np.ones(n, dtype=np.float32) * 5,
        "banned": np.zeros(n, dtype=np.float32),
        "subsidy": np.zeros(n, dtype=np.float32),
        "demoted": np.zeros(n, dtype=np.float32),
    }
    store_cols = {"new_store": np.zeros(stores, np.float32), "demoted": np.zeros(stores, np.float32)}
    return FeatureSnapshot(
        as_of_ms=0,
        products=EntityTable(ids, cols),
        stores=EntityTable(np.arange(stores, dtype=np.int64), store_cols),
        users=EntityTable(np.zeros(0, np.int64), {}),
        leaf_ids=np.array([11, 12], dtype=np.int64),
        leaf_theme_slot=np.array([0, 2], dtype=np.int8),
        user_leaf_slot=None, user_leaf=None, bought=None, bought_leaf=None, store_visits=None,
        text=None,
    )


def rules_request(**kw) -> RankRequest:
    base = {"surface": "search", "page_size": 10, "now_ms": 0, "hour": 9}
    return RankRequest(**{**base, **kw})


def scored(snapshot: FeatureSnapshot, ids=None) -> CandidateSet:
    ids = snapshot.products.ids if ids is None else np.asarray(ids)
    c = CandidateSet(ids)
    c.scores = -np.arange(len(ids), dtype=np.float64)  # score order = id order
    return c
