"""How the counterfactual lift is compared with the online A/B's."""

from __future__ import annotations

import math

import pytest

from training.experiments.counterfactual_vs_online import counterfactual_vs_online


def test_a_lift_inside_the_online_interval_has_zero_distance():
    online = {"lift": 0.10, "ci95": [0.02, 0.18], "treatment": 11.0, "control": 10.0}
    got = counterfactual_vs_online({"lift": 0.05, "treatment": 10.5, "control": 10.0}, online)
    assert got["inside_online_ci95"] and got["distance_to_online_ci95"] == 0.0
    assert got["lift_error_points"] == pytest.approx(-0.05)
    assert got["treatment_relative_error"] == pytest.approx(10.5 / 11 - 1)
    assert got["control_relative_error"] == 0.0


def test_a_lift_outside_says_how_far_and_a_zero_online_arm_has_no_relative_error():
    online = {"lift": 0.10, "ci95": [0.02, 0.18], "treatment": 11.0, "control": 0.0}
    got = counterfactual_vs_online({"lift": 0.30, "treatment": 10.0, "control": 9.0}, online)
    assert not got["inside_online_ci95"]
    assert got["distance_to_online_ci95"] == pytest.approx(0.12)
    assert math.isnan(got["control_relative_error"])
