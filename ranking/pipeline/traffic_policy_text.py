"""The traffic policy in a merchant's words, generated from the settings it applies.

:func:`policy_table` is the table of docs/scores.md's "Traffic policy" section (between the
``<!-- traffic-policy -->`` markers; a test regenerates it from the default settings, so the
published numbers cannot drift from the ones the service uses) and what
``shelfrank scores policy`` prints for the settings in force.
"""

from __future__ import annotations

from ranking.scores.product_score import GRADE_FLOORS
from ranking.settings import RulesSettings, ScoreSettings

BEGIN, END = "<!-- traffic-policy:begin -->", "<!-- traffic-policy:end -->"


def _grade_range(grade: str) -> str:
    floors = dict(GRADE_FLOORS)
    upper = {g: floors[h] for (g, _), (h, _) in zip(GRADE_FLOORS[1:], GRADE_FLOORS, strict=False)}
    if grade == "A":
        return f"product score {floors['A']:g} and above"
    if grade == "D":
        return f"product score below {GRADE_FLOORS[-1][1]:g}"
    return f"product score {floors[grade]:g}-{upper[grade]:g}"


def _grade_row(grade: str, rules: RulesSettings) -> str:
    earns = []
    if grade in rules.traffic_slot_grades:
        earns.append(f"may take the big-brand subsidy slots and gets the time-slot campaign boost "
                     f"(+{rules.theme_boost:g} score deviations when its category is the theme) if its "
                     f"store scores at least {rules.traffic_slot_min_store_score:g}")
    else:
        earns.append("no subsidy slot and no campaign boost")
    if grade == "D" and rules.traffic_fold > 0:
        earns.append(f"never placed in the first {rules.traffic_fold} positions of a page while a "
                     "product of another grade is left")
    return f"| grade {grade} ({_grade_range(grade)}) | {'; '.join(earns)} |"


def policy_table(rules: RulesSettings, scores: ScoreSettings) -> str:
    """The published policy as a Markdown table, one row per grade and store score band."""
    rows = ["| your product's grade or your store | what it earns or loses |", "|---|---|"]
    rows += [_grade_row(g, rules) for g in ("A", "B", "C", "D")]
    if rules.traffic_store_boost > 0:
        rows.append(f"| store experience score {rules.traffic_store_boost_min:g} or more | every "
                    f"product +{rules.traffic_store_boost:g} score deviations |")
    if rules.traffic_store_penalty > 0:
        rows.append(f"| store experience score below {rules.traffic_store_penalty_below:g} | every "
                    f"product -{rules.traffic_store_penalty:g} score deviations |")
    if rules.demotion_penalty > 0:
        rows.append(f"| store or product demoted (quality-return rate over {scores.demotion_ratio:g}x its "
                    f"category's, at least {scores.demotion_min_orders} orders) | "
                    f"-{rules.demotion_penalty:g} score deviations |")
    state = "on" if rules.traffic_policy else "off (only the demotion row applies)"
    return "\n".join(rows) + f"\n\nThe policy is {state} (`rules.traffic_policy`)."


def policy_section(rules: RulesSettings, scores: ScoreSettings) -> str:
    """:func:`policy_table` between the markers docs/scores.md keeps it in."""
    return f"{BEGIN}\n{policy_table(rules, scores)}\n{END}"
