"""The subsidy channel's ranked rows: kept per version of what they read, rebuilt by the live catalog
before a changed table is swapped in, the rows the eligibility and merit order give."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from started_worker import started_state
from test_catalog_change_tables import _change
from test_start_tables import _kept_builds

from ranking.pipeline import RankRequest
from ranking.recall.subsidy_channel import SubsidyChannel, subsidy_eligible
from ranking.surfaces import CHANNEL, SUBSIDY_CHANNEL


def _merit_order(snapshot, settings) -> np.ndarray:
    """The eligible rows by product score then subsidy depth (as they were computed per table)."""
    cols = snapshot.products.columns
    rows = np.flatnonzero(subsidy_eligible(snapshot, settings))
    merit = np.asarray(cols["product_score"], np.float64)[rows]
    depth = np.asarray(cols.get("subsidy_depth", np.zeros(len(snapshot.products.ids))), np.float64)[rows]
    return rows[np.lexsort((-depth, -np.nan_to_num(merit, nan=-1.0)))]


def test_after_a_stock_out_the_first_subsidy_page_builds_nothing_and_leaves_the_product_out(
        small_models: Path, tmp_path: Path, monkeypatch) -> None:
    with started_state(small_models / "latest", tmp_path) as state:
        engine, settings = state.engine, state.settings.channels
        snap = engine.snapshot
        page = RankRequest(surface=CHANNEL, page_size=20, now_ms=snap.as_of_ms, hour=15,
                           channel=SUBSIDY_CHANNEL, channel_exposures={})
        shown = [c["product_id"] for c in engine.rank(SUBSIDY_CHANNEL, page).cards]
        assert shown
        assert np.array_equal(SubsidyChannel(snap, settings).ranked_rows(), _merit_order(snap, settings))
        built = _kept_builds(monkeypatch)
        _change(state, engine, "stock", int(snap.products.rows(np.array([shown[0]]))[0]))
        assert any("_ranked" in b for b in built), "built by the follower before the swap"
        built.clear()
        after = [c["product_id"] for c in engine.rank(SUBSIDY_CHANNEL, page).cards]
        assert built == [] and shown[0] not in after
        assert np.array_equal(SubsidyChannel(snap, settings).ranked_rows(), _merit_order(snap, settings))
