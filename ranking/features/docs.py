"""Renders ``docs/features.md`` from the registry (``python -m ranking.features.docs``)."""

from __future__ import annotations

from ranking.features.registry import GROUPS, schema, schema_hash

INTRO = """# Ranking features

Generated from the registry in `ranking/features/` (`python -m ranking.features.docs >
docs/features.md`; a test fails when this file is stale). Each feature is computed by one
vectorised function, the same in training and serving: `build_inputs(snapshot,
product_ids, request_of_row, requests)` then `compute_features(inputs)`. A bundle stores
this schema (hash `{hash}` today) and is refused when the code's differs.

A blank default means "missing stays NaN" (LightGBM learns where missing values go).
The snapshot a feature reads is built from events strictly before its moment (see
docs/ltr_evaluation.md).
"""

NOTES = {
    "live": """The live group is what the shopper and the product did minutes ago, from the live state
(docs/live.md). One function computes its columns, `ranking/live/features.py::live_feature_columns`
(the shopper's `ShopperView`, the candidates' `product_signals`, their leaf categories, now):
the service calls it in the pipeline's hydrate (`ranking/pipeline/live_features.py`, from the
request's live view and the live state's counters), training calls its many-request form
(`requests_live_columns`, the same code) on the logs replayed up to each logged request,
events strictly before it (`training/learning/live_replay.py`, setting
`training.live_features`). Without a live state (live off or degraded, a shopper it does not
know) the columns are missing, as for a card training could not replay.
`tests/test_live_feature_parity.py` checks that both compute the same values on the small
mall. What the replay costs and the group's share of the model's gain (9.2% on the small
mall): docs/live.md, "Live features in the model".
""",
}


def render() -> str:
    rows = schema()
    parts = [INTRO.replace("{hash}", schema_hash(rows))]
    for group in GROUPS:
        parts.append(f"## {group}\n\n| feature | default | meaning |\n|---|---|---|")
        parts.extend(
            f"| `{r['name']}` | {'' if r['default'] is None else r['default']} | {r['meaning']} |"
            for r in rows if r["group"] == group
        )
        parts.append("")
        if group in NOTES:
            parts.append(NOTES[group])
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
