"""The mission's effect in simulated malls: homepage CTR of the mission leaf's cards and of the
others, by page of the session, and how soon missions are revealed (docs/simulator.md).

Usage: ``python scripts/mission_effect.py DIR [DIR ...]`` (folders written by
``shelfrank simulate``, e.g. one with the defaults and one with
``--set simulator.mission_boost=0``).
"""

from __future__ import annotations

import sys

import pandas as pd


def mission_effect(folder: str) -> None:
    """Print one simulated mall's session and mission figures."""
    imp = pd.read_parquet(f"{folder}/impressions.parquet", columns=["request_id", "surface", "product_id"])
    clicks = pd.read_parquet(f"{folder}/clicks.parquet", columns=["request_id", "product_id"])
    requests = pd.read_parquet(f"{folder}/truth/requests.parquet")
    products = pd.read_parquet(f"{folder}/products.parquet", columns=["product_id", "category_id"])
    cards = imp.merge(requests, on="request_id").merge(products, on="product_id")
    cards = cards.merge(clicks.drop_duplicates().assign(clicked=True), how="left",
                        on=["request_id", "product_id"])
    cards["clicked"] = cards.clicked.fillna(False).astype(bool)
    cards["in_mission"] = cards.category_id == cards.mission_category_id
    home = cards[cards.surface == "homepage"]
    sessions = requests.session_id.nunique()
    print(f"{folder}: {sessions:,} sessions, {len(requests):,} requests, "
          f"{len(requests) / sessions:.2f} pages per session")
    print("  pages per session:", requests.groupby("session_id").size().value_counts().sort_index().to_dict())
    print("  homepage CTR (cards):",
          home.groupby("in_mission").clicked.agg(["mean", "size"]).round(4).to_dict())
    print("  homepage CTR by page (0, 1, 2, 3+) and in mission leaf:")
    print(home.groupby([home.page.clip(0, 3), "in_mission"]).clicked.mean().unstack().round(4).to_string())
    print("  revealed before the page:", requests.groupby("page").mission_revealed.mean().round(3).to_dict())


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        mission_effect(arg)
