"""The merchant traffic report: what traffic a store got, against its category, and why.

For one store, from the exposure log (the cards the service returned, ``exposures``) and the
scores the service ranks with (a bundle's snapshot, or scores computed from a mall):

* **exposure share** over the last day and the last week: the store's cards / every card
  shown, against the **category's average store** (the category's cards / the category's
  stores / every card). A store's category is its main top-level category (the top-level
  category most of its products are in, the smallest id on a tie), as the scores define it.
  The windows end at ``as_of_ms`` (default: just after the log's last exposure, so an old log
  reads as it stood). Cards of products the scores do not know are counted in the total
  (they were shown) and reported as ``unknown_product_cards``;
* its products' **grade mix** (A-D from the product score; ``unknown``: no score);
* the **policy rules that touched its cards** in each window: every exposed card of the store
  counted under each rule of the traffic policy that applies to it with today's scores and
  the settings in force (recomputed, not read from the request: the exposure log keeps the
  cards, not their notes);
* **what would raise it**: its score dimensions below its category's median store, furthest
  first, with what each one measures in words.

:func:`tables_from_snapshot` and :func:`tables_from_scores` give the scores as
:class:`TrafficTables`; :func:`store_traffic` computes the report (a dict, the endpoint's body)
and :func:`format_report` prints it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.traffic_grades import grade_codes, grades_of, slot_eligible
from ranking.scores.compute import main_category as store_main_category
from ranking.settings import RulesSettings, ScoreSettings

DAY_MS = 86_400_000
WINDOWS = {"day": DAY_MS, "week": 7 * DAY_MS}
STORE_DIMENSIONS = ("store_product_quality", "store_logistics", "store_service", "store_stability",
                    "returning_customer_index")


def dimension_advice(scores: ScoreSettings) -> dict[str, str]:
    """What each store dimension measures, as a merchant would act on it."""
    return {
        "store_product_quality": "fewer 1-2 star reviews and quality or not-as-described returns "
                                 "(listings that match the goods)",
        "store_logistics": f"ship within {scores.on_time_ship_hours:g} hours of payment and deliver by "
                           "the promised day",
        "store_service": "answer buyers faster, fewer disputes, resolve more service tickets",
        "store_stability": "steadier weekly orders and fewer cancellations",
        "returning_customer_index": "better quality for the price, service before and after the sale, "
                                    "engaging honest content, and buyers who come back and review well",
    }


@dataclass
class TrafficTables:
    """The scores the report reads. ``stores``: index store_id, columns ``category_id`` (main
    top-level category), ``store_experience_score``, the :data:`STORE_DIMENSIONS` present and
    ``demoted``; ``products``: index product_id, columns ``store_id``, ``product_score``,
    ``subsidy`` and ``demoted``."""

    stores: pd.DataFrame
    products: pd.DataFrame


def main_category(product_store: np.ndarray, product_top: np.ndarray) -> pd.Series:
    """Each store's main top-level category, by store id: the one most of its products are in
    (smallest on a tie; the scores' own vectorised count, :func:`ranking.scores.compute.main_category`)."""
    stores, rows = np.unique(np.asarray(product_store, dtype=np.int64), return_inverse=True)
    return pd.Series(store_main_category(rows, np.asarray(product_top, dtype=np.int64), len(stores)),
                     index=stores)


def tables_from_snapshot(snapshot: FeatureSnapshot) -> TrafficTables:
    """The served bundle's scores (its snapshot's product and store tables)."""
    p, s = snapshot.products.columns, snapshot.stores.columns
    n = len(snapshot.products.ids)
    zeros = np.zeros(n, dtype=np.float32)
    products = pd.DataFrame({
        "store_id": np.asarray(p["store_id"]).astype(np.int64),
        "product_score": np.asarray(p.get("product_score", np.full(n, np.nan)), dtype=np.float64),
        "subsidy": np.asarray(p.get("subsidy", zeros)) > 0,
        "demoted": np.asarray(p.get("demoted", zeros)) > 0,
    }, index=pd.Index(snapshot.products.ids.astype(np.int64), name="product_id"))
    top = np.asarray(p.get("top_category_id", p.get("category_id", zeros))).astype(np.int64)
    stores = pd.DataFrame({c: np.asarray(s[c], dtype=np.float64) for c in
                           ("store_experience_score", *STORE_DIMENSIONS) if c in s},
                          index=pd.Index(snapshot.stores.ids.astype(np.int64), name="store_id"))
    stores["demoted"] = np.asarray(s.get("demoted", np.zeros(len(stores)))) > 0
    stores["category_id"] = main_category(products.store_id.to_numpy(), top).reindex(stores.index) \
        .fillna(-1).astype(np.int64)
    return TrafficTables(stores, products)


def tables_from_scores(stores: pd.DataFrame, products: pd.DataFrame, subsidy: pd.Series) -> TrafficTables:
    """Scores computed from a mall (:class:`ranking.scores.PlatformScores`' ``stores`` and
    ``products``) with the catalog's subsidy flag per product id."""
    cols = [c for c in ("store_experience_score", *STORE_DIMENSIONS, "category_id") if c in stores]
    s = stores[cols].copy()
    s["demoted"] = stores["demoted"].astype(bool)
    p = pd.DataFrame({"store_id": products.store_id.astype(np.int64),
                      "product_score": products.product_score.astype(np.float64),
                      "subsidy": subsidy.reindex(products.index).fillna(False).astype(bool),
                      "demoted": products.demoted.astype(bool)}, index=products.index)
    return TrafficTables(s, p)


def _policy_hits(tables: TrafficTables, store_id: int, rules: RulesSettings) -> dict[str, np.ndarray]:
    """For each policy rule, which of the store's products it applies to (by product row)."""
    mine = tables.products[tables.products.store_id == store_id]
    grades = grades_of(mine.product_score.to_numpy())
    score = float(tables.stores.at[store_id, "store_experience_score"]) \
        if "store_experience_score" in tables.stores else np.nan
    known = np.isfinite(score)
    n = len(mine)
    hits = {"demotion": mine.demoted.to_numpy() | bool(tables.stores.at[store_id, "demoted"])}
    if rules.traffic_policy:
        eligible = slot_eligible(grade_codes(mine.product_score.to_numpy()), np.full(n, score), rules)
        hits.update({
            "store_boost": np.full(n, known and score >= rules.traffic_store_boost_min
                                   and rules.traffic_store_boost > 0),
            "store_penalty": np.full(n, known and score < rules.traffic_store_penalty_below
                                     and rules.traffic_store_penalty > 0
                                     and not score >= rules.traffic_store_boost_min),
            "fold_floor_grade_d": (grades == "D") & (rules.traffic_fold > 0),
            "no_campaign_boost": ~eligible,
            "no_subsidy_slot": ~eligible & mine.subsidy.to_numpy(),
        })
    return {rule: pd.Series(hit, index=mine.index) for rule, hit in hits.items()}


def _window(exposures: pd.DataFrame, tables: TrafficTables, store_id: int, lo: int, hi: int,
            hits: dict[str, pd.Series]) -> dict[str, Any]:
    shown = exposures[(exposures.timestamp >= lo) & (exposures.timestamp < hi)]
    store_of = tables.products.store_id.reindex(shown.product_id.to_numpy()).to_numpy()
    known = ~np.isnan(store_of.astype(np.float64))
    cards = len(shown)
    counts = pd.Series(store_of[known].astype(np.int64)).value_counts()
    category = tables.stores.category_id
    cat = int(category.at[store_id])
    peers = category.index[category.to_numpy() == cat]
    store_cards = int(counts.get(store_id, 0))
    cat_cards = int(counts.reindex(peers).fillna(0).sum())
    share = store_cards / cards if cards else 0.0
    average = cat_cards / len(peers) / cards if cards else 0.0
    mine = shown.product_id[known & (store_of == store_id)]
    return {
        "cards_shown": cards, "store_cards": store_cards, "exposure_share": share,
        "category_cards": cat_cards, "category_stores": len(peers),
        "category_average_share": average,
        "vs_category_average": share / average if average > 0 else None,
        "unknown_product_cards": int((~known).sum()),
        "policy_rules": {rule: int(hit.reindex(mine.to_numpy()).fillna(False).astype(bool).sum())
                         for rule, hit in hits.items()},
    }


def _raise_it(tables: TrafficTables, store_id: int, scores: ScoreSettings) -> list[dict[str, Any]]:
    stores = tables.stores
    peers = stores[stores.category_id == stores.at[store_id, "category_id"]]
    advice = dimension_advice(scores)
    out = []
    for dim in STORE_DIMENSIONS:
        if dim not in stores or not np.isfinite(stores.at[store_id, dim]):
            continue
        median = float(peers[dim].median())
        gap = float(stores.at[store_id, dim]) - median
        if gap < 0:
            out.append({"dimension": dim, "score": float(stores.at[store_id, dim]),
                        "category_median": median, "gap": gap, "how": advice[dim]})
    return sorted(out, key=lambda d: d["gap"])


def store_traffic(tables: TrafficTables, exposures: pd.DataFrame, store_id: int, rules: RulesSettings,
                  scores: ScoreSettings, as_of_ms: int | None = None) -> dict[str, Any]:
    """The report of ``store_id`` (module docstring); ``exposures`` has ``product_id`` and
    ``timestamp`` (ms) per card shown. A ``KeyError`` names a store the scores do not know."""
    if store_id not in tables.stores.index:
        raise KeyError(f"store {store_id} is not in the scores (an unknown or new store)")
    if as_of_ms is None:
        as_of_ms = int(exposures.timestamp.max()) + 1 if len(exposures) else 0
    hits = _policy_hits(tables, store_id, rules)
    grades = grades_of(tables.products.product_score[tables.products.store_id == store_id].to_numpy())
    mix = {g: int((grades == g).sum()) for g in ("A", "B", "C", "D")}
    mix["unknown"] = int((grades == "").sum())
    score = tables.stores.at[store_id, "store_experience_score"] \
        if "store_experience_score" in tables.stores else np.nan
    return {
        "store_id": int(store_id),
        "category_id": int(tables.stores.at[store_id, "category_id"]),
        "category_means": "the store's main top-level category (most of its products)",
        "store_experience_score": float(score) if np.isfinite(score) else None,
        "as_of_ms": int(as_of_ms),
        "windows": {name: _window(exposures, tables, store_id, as_of_ms - span, as_of_ms, hits)
                    for name, span in WINDOWS.items()},
        "grade_mix": mix,
        "policy_rules_note": "cards of the store shown in the window that each rule applies to, "
                             "recomputed from today's scores and the settings in force",
        "raise_it": _raise_it(tables, store_id, scores),
    }


def format_report(report: dict[str, Any]) -> str:
    """The report as the CLI prints it."""
    lines = [f"traffic of store {report['store_id']} (category {report['category_id']}: "
             f"{report['category_means']}), windows ending {report['as_of_ms']} ms"]
    for name, w in report["windows"].items():
        vs = w["vs_category_average"]
        lines.append(f"  last {name}: {w['store_cards']:,} of {w['cards_shown']:,} cards shown = "
                     f"{w['exposure_share']:.2%}; the category's average store "
                     f"{w['category_average_share']:.2%}"
                     f" ({w['category_cards']:,} cards over {w['category_stores']} stores)"
                     + (f", {vs:.2f}x" if vs is not None else ""))
        touched = ", ".join(f"{rule} {n:,}" for rule, n in w["policy_rules"].items() if n)
        lines.append(f"    policy rules on its cards: {touched or 'none'}")
    lines.append("  grade mix: " + ", ".join(f"{g} {n}" for g, n in report["grade_mix"].items()))
    if report["raise_it"]:
        lines.append("  what would raise it (furthest below the category's median store first):")
        lines += [f"    {d['dimension']} {d['score']:.1f} vs median {d['category_median']:.1f}: {d['how']}"
                  for d in report["raise_it"]]
    else:
        lines.append("  every dimension is at or above the category's median store")
    return "\n".join(lines)


def read_exposures(events_dir: str) -> pd.DataFrame:
    """Every card the service logged under ``events_dir`` (``product_id``, ``timestamp`` in ms);
    bad lines are left out (the event reader lists them), a missing folder is no exposure."""
    from ranking.event_reader import read_log

    table = read_log(events_dir, skip_bad=True).tables["exposures"]
    ts = table.column("timestamp").cast("int64").to_numpy(zero_copy_only=False)
    ids = table.column("product_id").to_numpy(zero_copy_only=False)
    return pd.DataFrame({"product_id": ids.astype(np.int64), "timestamp": ts.astype(np.int64)})
