"""One measured run: what the explanation's baseline changes (issue 27).

``python -m bench.explain_baseline --bundle models/latest [--query 大米 ...]`` ranks the
homepages of the bundle's most active users (the demo page's 24, at 14:00) and one search
page per query with ``explain=True``, and prints, per page kind, the relevance group as raw
TreeSHAP gives it (what the explanation showed before the baseline: LightGBM's
``pred_contrib`` summed over the relevance features) beside the explanation's, the raw
``brand_match`` contribution on the search pages, and the largest gap between
``bias`` + groups and ``model_score``. One JSON object per line.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from ranking.engine import Engine
from ranking.features.registry import features
from ranking.pipeline import RankRequest
from ranking.settings import load_settings
from serving.routes.demo import most_active_users


def _page(engine: Engine, pipeline: str, **request) -> tuple[list[dict], np.ndarray]:
    """(explained cards, raw TreeSHAP contributions) of one page."""
    req = RankRequest(**{**dict(surface="homepage", page_size=20, now_ms=engine.snapshot.as_of_ms, hour=14,
                                explain=True), **request})
    raw = engine.pipelines[pipeline].run(req)
    cards = engine.rank(pipeline, req).cards
    return cards, raw.contributions


def measure(engine: Engine, users: list[int], queries: list[str]) -> list[dict]:
    names = engine.bundle.model.feature_names
    relevance = [names.index(f.name) for f in features() if f.group == "relevance" and f.name in names]
    brand = names.index("brand_match")
    pages = [("homepage", "homepage", dict(user_id=u)) for u in users]
    pages += [(f"search {q}", "search", dict(surface="search", query=q)) for q in queries]
    rows: dict[str, dict] = {}
    for kind, pipeline, request in pages:
        cards, raw = _page(engine, pipeline, **request)
        row = rows.setdefault(kind, {"page": kind, "cards": 0, "raw": [], "shown": [], "brand": [],
                                     "gap": 0.0})
        row["cards"] += len(cards)
        row["raw"] += raw[:, relevance].sum(axis=1).tolist()
        row["brand"] += raw[:, brand].tolist()
        for c in cards:
            e = c["explanation"]
            row["shown"].append(e["groups"]["relevance"])
            row["gap"] = max(row["gap"], abs(e["bias"] + sum(e["groups"].values()) - c["model_score"]))
    return [{"page": r["page"], "cards": r["cards"],
             "relevance_raw_mean": round(float(np.mean(r["raw"])), 3),
             "relevance_raw_max_abs": round(float(np.max(np.abs(r["raw"]))), 3),
             "relevance_explained_mean": round(float(np.mean(r["shown"])), 3),
             "relevance_explained_zero": int(np.sum(np.asarray(r["shown"]) == 0)),
             "brand_match_raw_mean": round(float(np.nanmean(r["brand"])), 3),
             "sum_gap_max": float(f"{r['gap']:.1e}")} for r in rows.values()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default="models/latest")
    parser.add_argument("--users", type=int, default=24)
    parser.add_argument("--query", action="append", default=None)
    args = parser.parse_args()
    engine = Engine.load(args.bundle, load_settings(["live.backend=off"]))
    users = most_active_users(engine.snapshot, args.users)
    for row in measure(engine, users, args.query or ["大米", "牛奶", "手机"]):
        print(json.dumps(row, ensure_ascii=False))


if __name__ == "__main__":
    main()
