"""Every ranking feature has a label and a unit an explanation can show (the registry is the one
place they are declared), and each unit reads as a merchant expects."""

from __future__ import annotations

import math

import pytest

from ranking.features.registry import features
from ranking.features.units import UNITS, format_value


def test_every_feature_has_a_label_and_a_known_unit():
    for f in features():
        assert f.label, f"feature {f.name!r} has no label (@feature(..., label=...))"
        assert f.label != f.name
        assert f.unit in UNITS, f"feature {f.name!r}: unknown unit {f.unit!r}"


@pytest.mark.parametrize("value,unit,shown", [
    (0.031, "percent", "3.1%"),
    (-0.052, "signed_percent", "-5.2%"),
    (math.log1p(0.99), "log1p_per_day", "0.99/day"),
    (math.log(12.5), "log_yuan", "¥12.50"),
    (math.log(1.25), "log_ratio", "x1.25"),
    (math.log1p(3), "log1p_count", "3"),
    (72.4, "score", "72/100"),
    (1.0, "flag", "yes"),
    (0.0, "flag", "no"),
    (4.63, "stars", "4.6/5"),
    (1.0, "surface", "homepage"),
    (9.0, "hour", "09:00"),
    (float("nan"), "percent", "missing"),
    (None, "score", "missing"),
])
def test_units_read_as_a_merchant_expects(value, unit, shown):
    assert format_value(value, unit) == shown


def test_an_unknown_unit_is_refused():
    with pytest.raises(ValueError, match="unknown unit"):
        format_value(1.0, "furlongs")


def test_the_registry_names_the_features_issue_27_quoted():
    by_name = {f.name: f for f in features()}
    assert format_value(0.031, by_name["cvr"].unit) == "3.1%"
    assert "conversion rate" in by_name["cvr"].label
    assert format_value(math.log1p(0.99), by_name["sales_velocity"].unit) == "0.99/day"
    assert "sales velocity" in by_name["sales_velocity"].label
