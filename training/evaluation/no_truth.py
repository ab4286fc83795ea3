"""What leads the evaluation of a mall without simulator truth (a real mall's logs).

On a simulated mall ``truth/`` gives every card its true purchase probability, and NDCG on
it is the yardstick. A real mall has only its logged clicks, and click metrics computed on
them favour the ranking that produced them: a shopper can click only what it showed, mostly
where it put it. So on such a mall a new model that reorders pages "loses" on MRR to the
logged order, whatever it would do online. :func:`no_truth_summary` says so in plain words
(:data:`CLICK_BIAS`), and puts first what can decide instead:

* the **counterfactual estimate** (:func:`training.experiments.counterfactual.counterfactual_estimates`,
  IPS and SNIPS over the logged randomised slots) when the logs carry propensities below 1;
  otherwise why there is none (pages never randomised) and where to start;
* an **interleaving plan**: how many interleaved page views a team-draft sign test needs to
  detect a given win rate with 80% power at 5% (two-sided, normal approximation), from the
  share of the test days' pages that can decide it (a page with no click, or no order, is a
  tie), and how to run it (docs/experiments.md).

:func:`lead_markdown` renders the summary as the first section of ``report.md``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from training.evaluation.evaluate import Evaluation
from training.experiments.counterfactual import counterfactual_estimates
from training.stats import Z95

Z80 = 0.8416212335729143  # scipy.stats.norm.ppf(0.8): 80% power
WIN_RATES = (0.55, 0.60)  # share of deciding pages the new ranking wins
CLICK_BIAS = (
    "This mall has no simulator truth, so there is no true relevance to score rankings against. "
    "MRR, MAP and logged NDCG below are computed on the clicks the current ranking collected: "
    "shoppers could only click what it showed, and mostly near the top where it put it, so these "
    "click metrics favour the ranking that produced the clicks (the logging policy). A model that "
    "reorders the page is judged on clicks it never had the chance to earn; losing to the logging "
    "policy here does not mean it would lose online. Decide with the counterfactual estimate and an "
    "interleaving test instead.")
NOT_RANDOMISED = (
    "no counterfactual estimate: no logged card has propensity below 1, so the pages were never "
    "randomised and no offline estimate of another ranking is unbiased. Randomise a small share of "
    "pages first (docs/bring_your_own_mall.md, 'Start randomising'), or run the interleaving test.")

INTERLEAVE_HOW = [
    "How to run it: serve the model beside the current ranking as two variants of one interleaving "
    "experiment on a small share of shoppers (`serving.experiments_file`; `traffic` is that share), "
    "then `shelfrank merge-events` and `shelfrank experiment analyze --events DIR --config FILE`:", "",
    "```toml", "[[experiments]]", 'name = "first-model"', 'layer = "ranking"', 'salt = "byod1"',
    "traffic = 0.1", 'mode = "interleave"', 'credit = "gmv"', 'surfaces = ["homepage", "search"]', "",
    "  [[experiments.variants]]", '  name = "current"   # no bundle: the one the service serves',
    "  share = 0.5", "",
    "  [[experiments.variants]]", '  name = "model"', "  share = 0.5", '  bundle = "models/<this bundle>"',
    "```"]


def sign_test_pages(win_rate: float, deciding_share: float) -> int | None:
    """Interleaved pages a two-sided sign test (5%) needs for 80% power at ``win_rate`` of
    the deciding pages, when ``deciding_share`` of pages decide (None if none do)."""
    if deciding_share <= 0 or not 0.5 < win_rate < 1:
        return None
    deciding = ((Z95 * 0.5 + Z80 * math.sqrt(win_rate * (1 - win_rate))) / (win_rate - 0.5)) ** 2
    return math.ceil(math.ceil(deciding) / deciding_share)


def interleaving_plan(result: Evaluation, orders: pd.DataFrame | None) -> dict:
    """Pages needed per credit (clicks, orders) and win rate, from the test days' pages."""
    frame = result.frame
    requests = np.unique(frame.request_id)
    clicked = np.unique(frame.request_id[frame.grade >= 1])
    ordered = np.unique(frame.request_id[frame.grade >= 3])
    if orders is not None and len(orders):
        attributed = orders.request_id.dropna().astype(np.int64).to_numpy()
        ordered = np.union1d(ordered, np.intersect1d(requests, attributed))
    shares = {"clicks": len(clicked) / max(len(requests), 1), "orders": len(ordered) / max(len(requests), 1)}
    return {
        "pages": len(requests),
        "deciding_share": shares,
        "pages_needed": {credit: {f"{p:.2f}": sign_test_pages(p, share) for p in WIN_RATES}
                         for credit, share in shares.items()},
    }


def no_truth_summary(result: Evaluation, orders: pd.DataFrame | None) -> dict:
    """JSON-ready lead of a no-truth evaluation: the bias statement, the counterfactual
    estimate (or why there is none) and the interleaving plan."""
    summary: dict = {"click_metric_bias": CLICK_BIAS, "counterfactual": None,
                     "counterfactual_missing": None,
                     "interleaving_plan": interleaving_plan(result, orders)}
    if not (result.frame.propensity < 1).any():
        summary["counterfactual_missing"] = NOT_RANDOMISED
        return summary
    try:
        summary["counterfactual"] = counterfactual_estimates(result.frame, result.scores["model"], orders)
    except ValueError as exc:
        summary["counterfactual_missing"] = f"no counterfactual estimate: {exc}"
    return summary


def lead_markdown(summary: dict) -> list[str]:
    """The report's first section: counterfactual first, then the plan, then the bias."""
    lines = ["## Without simulator truth: read this first", ""]
    estimate = summary.get("counterfactual")
    lines += ["### Counterfactual estimate (randomised slots of the logged pages)", ""]
    if estimate:
        lines += [f"{estimate['requests']:,} randomised pages, {estimate['slots_per_block']} randomised "
                  "slots each. Per page: the logging policy's own value, the model's IPS and SNIPS "
                  "estimates, and the lift SNIPS estimates over the logging policy.", "",
                  "| reward | logging policy | model IPS (95% interval) | model SNIPS | estimated lift |",
                  "|---|---|---|---|---|"]
        for reward, r in estimate["rewards"].items():
            low, high = r["ips_ci95"]
            lines.append(f"| {reward} | {r['logging_policy']:.4f} | {r['ips']:.4f} ({low:.4f} to {high:.4f}) "
                         f"| {r['snips']:.4f} | {r['estimated_lift']:+.1%} |")
    else:
        lines.append(summary["counterfactual_missing"])
    plan = summary["interleaving_plan"]
    lines += ["", "### Interleaving plan", "",
              "A team-draft interleaving of the model and the current ranking (docs/experiments.md, "
              "`mode = \"interleave\"`) shows each shopper one page mixing both and credits each card "
              "to the ranking that contributed it; a page with no credited event is a tie. Interleaved "
              "page views a sign test needs (80% power, 5% two-sided), by the share of deciding pages "
              "the model wins:", "",
              "| credit | pages that decide (test days) | " + " | ".join(
                  f"win rate {p}" for p in plan["pages_needed"]["clicks"]) + " |",
              "|---|---|" + "---|" * len(plan["pages_needed"]["clicks"])]
    for credit, needed in plan["pages_needed"].items():
        cells = " | ".join("n/a" if n is None else f"{n:,}" for n in needed.values())
        lines.append(f"| {credit} | {plan['deciding_share'][credit]:.1%} of {plan['pages']:,} | {cells} |")
    lines += ["", *INTERLEAVE_HOW]
    lines += ["", "### Click metrics favour the ranking that produced the clicks", "",
              summary["click_metric_bias"], ""]
    return lines
