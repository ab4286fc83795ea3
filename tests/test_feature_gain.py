"""bench.feature_gain: each feature's share of the model's split gain, and a named set's."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.feature_gain import gain_shares, main, set_share
from ranking.card_badges import OFFER_COLUMNS


def test_shares_sum_to_one_and_a_set_sums_its_members():
    shares = gain_shares({"a": 3.0, "b": 1.0, "c": 0.0})
    assert shares == {"a": 0.75, "b": 0.25, "c": 0.0}
    assert set_share(shares, ["b", "c"]) == 0.25
    assert gain_shares({"a": 0.0}) == {"a": 0.0}
    with pytest.raises(ValueError, match="does not have"):
        set_share(shares, ["zz"])


def test_the_small_malls_model_draws_gain_from_the_offer_features(small_models: Path, capsys):
    result = main([str(small_models / "latest")])
    assert result["features"] == list(OFFER_COLUMNS)
    assert abs(result["share"] - sum(result["each"].values())) < 1e-12
    # the simulator's shoppers value free shipping, returns and the guarantees: the model learns it
    assert result["share"] > 0.0
    out = capsys.readouterr().out
    assert "share of the 7 named features" in out and "free_shipping" in out
