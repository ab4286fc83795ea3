"""Both bundles' homepage GMV per session estimated from the mall's logs, and how close that
estimate lands to what the online A/B test measured (``shelfrank experiment counterfactual``
and the closed loop's counterfactual step)."""

from __future__ import annotations

import math
from pathlib import Path

from ranking.settings import Settings


def estimate_gmv_per_session(treatment: Path, control: Path, data: Path, settings: Settings,
                             control_online: float) -> dict:
    """Both bundles' homepage GMV per session estimated from the mall's logs alone.

    The estimate is the whole-page doubly-robust one (:mod:`training.experiments.whole_page`):
    each bundle's pages replayed on logged contexts, valued by a reward model learnt from the
    logs, IPS-corrected where the logs showed the same card in the same slot. GMV per
    session is the order value (the closed loop's shoppers buy one unit and never cancel).
    ``randomised_block`` keeps the older IPS / SNIPS estimate (each bundle re-ordering the
    logging policy's randomised top ten) beside it: a different, narrower estimand.
    """
    from training.experiments.whole_page import estimate_bundles

    est = estimate_bundles({"treatment": treatment, "control": control}, data, settings,
                           compare=("treatment", "control"))
    ov = est["comparison"]["rewards"]["order_value"]
    details = {k: v for k, v in est.items() if k not in ("treatment", "control")}
    for name in ("treatment", "control"):
        details[name] = {k: v for k, v in est[name].items() if k != "randomised_block"}
    return {
        "method": "whole-page doubly robust (training/experiments/whole_page.py)",
        "gmv_per_session": {
            "treatment": ov["treatment"],
            "treatment_ci95": est["treatment"]["rewards"]["order_value"]["dr_ci95"],
            "control": ov["control"],
            "control_ci95": est["control"]["rewards"]["order_value"]["dr_ci95"],
            "lift": ov["lift"],
            "lift_ci95": ov["ci95"],  # the contexts' sampling noise only
            # the reward model's error: each of its shard models alone, and their standard error
            "lift_reward_model_members": ov.get("reward_model_members_lift"),
            "lift_reward_model_se": ov.get("reward_model_se"),
            "direct_method_lift": ov["direct_lift"],
            "logging_policy_logged": est["logging_policy"]["order_value"]["value"],
            "control_online": control_online,
        },
        "supported_share": {name: est[name]["supported_share"] for name in ("treatment", "control")},
        "randomised_block": _randomised_block(est),
        "seconds": est["seconds"],
        "details": details,
    }


def _randomised_block(est: dict) -> dict:
    """The previous estimator's numbers for both arms, and its treatment-over-control lift."""
    def block(name: str) -> dict:
        r = est[name]["randomised_block"]["rewards"]
        return {"gmv_ips": r["gmv"]["ips"], "gmv_snips": r["gmv"]["snips"],
                "gmv_logging_policy": r["gmv"]["logging_policy"],
                "gmv_snips_lift_over_logging_policy": r["gmv"]["estimated_lift"],
                "order_value_dr": r["order_value"]["dr"], "order_value_dr_lift": r["order_value"]["dr_lift"]}

    old = {name: block(name) for name in ("treatment", "control")}
    old_ratio = (1 + old["treatment"]["gmv_snips_lift_over_logging_policy"]) / (
        1 + old["control"]["gmv_snips_lift_over_logging_policy"])
    old["snips_lift_treatment_over_control"] = old_ratio - 1
    old["note"] = ("IPS/SNIPS of each bundle re-ordering the logging policy's randomised top-10 blocks "
                   "(the previous estimator): the bundles' own recall and slots 11-20 are not in it")
    return old


def counterfactual_vs_online(cf: dict, online: dict) -> dict:
    """How close the counterfactual GMV per session lands to the online A/B's."""
    lo, hi = online["ci95"]
    lift = cf["lift"]
    out = {
        "estimated_lift": lift,
        "online_lift": online["lift"],
        "online_lift_ci95": [lo, hi],
        "inside_online_ci95": bool(lo <= lift <= hi),
        "lift_error_points": lift - online["lift"],
        # 0 inside the interval, else how far outside it, in lift points
        "distance_to_online_ci95": max(lo - lift, lift - hi, 0.0),
    }
    for arm in ("treatment", "control"):
        out[f"{arm}_relative_error"] = cf[arm] / online[arm] - 1 if online[arm] else math.nan
    return out
