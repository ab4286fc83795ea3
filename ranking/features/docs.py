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
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
