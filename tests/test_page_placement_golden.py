"""Rules and placement give the pages and explanations they gave before they became components.

``tests/data/page_placement_golden.json`` holds, for random small catalogs (many stores,
subsidy products, new stores, demoted products and stores, themed leaves), the page rows,
propensities, adjustments and rule notes of the default filters, adjusters and the
selector, as ``ranking/pipeline/rules.py`` and ``Selector.place`` gave them at commit
14c3c18; the components that replaced them must reproduce every one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ranking.features.snapshot import EntityTable, FeatureSnapshot
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.pipeline import Pipeline
from ranking.settings import RulesSettings

GOLDEN = Path(__file__).parent / "data" / "page_placement_golden.json"
# the shelf spread came after the golden pages: with its caps off they must be the same
SPREAD_OFF = {"spread_category_max": {}, "spread_brand_max": {}, "subsidy_share_max": {},
              "spread_min_categories": {}}
CASES = [  # (seed, surface, hour, subsidy slots, exploration slots, log-odds scores)
    (1, "homepage", 9, (1, 4), (3, 8), True), (2, "homepage", 14, (), (2, 5, 9), False),
    (3, "search", 20, (2,), (3,), True), (4, "homepage", 22, (1, 2, 3), (4, 6), False),
    (5, "channel", 7, (5,), (), True),
]


def _snapshot(rng: np.random.Generator, n: int = 120, stores: int = 9) -> FeatureSnapshot:
    ids = np.arange(500, 500 + n, dtype=np.int64)
    cols = {
        "store_id": rng.integers(0, stores, n).astype(np.float32),
        "category_id": rng.choice([11, 12, 13], n).astype(np.float32),
        "top_category_id": np.full(n, 1, dtype=np.float32),
        "price": rng.uniform(5, 300, n).astype(np.float32),
        "stock": (rng.random(n) > 0.05).astype(np.float32) * 5,
        "banned": (rng.random(n) < 0.03).astype(np.float32),
        "subsidy": (rng.random(n) < 0.12).astype(np.float32),
        "demoted": (rng.random(n) < 0.05).astype(np.float32),
    }
    store_cols = {"new_store": (rng.random(stores) < 0.3).astype(np.float32),
                  "demoted": (rng.random(stores) < 0.15).astype(np.float32)}
    return FeatureSnapshot(
        as_of_ms=0, products=EntityTable(ids, cols),
        stores=EntityTable(np.arange(stores, dtype=np.int64), store_cols),
        users=EntityTable(np.zeros(0, np.int64), {}), leaf_ids=np.array([11, 12, 13], dtype=np.int64),
        leaf_theme_slot=np.array([0, 2, 1], dtype=np.int8), user_leaf_slot=None, user_leaf=None,
        bought=None, bought_leaf=None, store_visits=None, text=None,
    )


def place_pages(explain: bool = True) -> list[dict]:
    """Each case's page: rows (product ids), propensities, adjustments, notes, dropped (explained:
    the notes are made for an explained page, the only one that shows them)."""
    out = []
    for seed, surface, hour, subsidy_slots, exploration, log_odds in CASES:
        rng = np.random.default_rng(seed)
        snapshot = _snapshot(rng)
        ids = rng.permutation(np.r_[snapshot.products.ids, [9991, 9992]])[:110]
        cands = CandidateSet(ids)
        rules = RulesSettings(exploration_slots=list(exploration), store_diversity_max=2,
                              store_diversity_window=5, **SPREAD_OFF)
        request = RankRequest(surface=surface, page_size=24, now_ms=0, hour=hour,
                              subsidy_slots=subsidy_slots, seed=seed, explain=explain)
        model = type("M", (), {"score_is_log_odds": log_odds})()
        pipe = Pipeline("golden", [], snapshot, model, rules)
        cands, dropped = pipe._filter(cands, request)
        cands.scores = np.round(rng.normal(0, 1, len(cands)), 3)
        for adjuster in pipe.adjusters:
            adjuster.apply(cands, request, snapshot)
        placement = pipe.selector.place(cands, request, snapshot, np.random.default_rng(request.seed))
        page = cands.take(placement.rows)
        out.append({"ids": page.product_ids.tolist(), "propensity": placement.propensity.tolist(),
                    "adjustments": np.round(page.adjustments, 9).tolist(),
                    "notes": [page.notes(i) for i in range(len(page))], "dropped": list(dropped)})
    return out


def test_pages_and_explanations_equal_the_pre_component_output():
    expected = json.loads(GOLDEN.read_text())
    got = json.loads(json.dumps(place_pages(), default=float))
    assert len(got) == len(expected)
    for case, (g, e) in enumerate(zip(got, expected, strict=True)):
        assert g == e, CASES[case]
    # not explained: the same pages, whatever notes they skip
    plain = json.loads(json.dumps(place_pages(explain=False), default=float))
    for case, (g, e) in enumerate(zip(plain, expected, strict=True)):
        assert {**g, "notes": None} == {**e, "notes": None}, CASES[case]
