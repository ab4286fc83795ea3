"""A card's explanation as a merchant reads it: why the model scored it so, against a
meaningful baseline, in the registry's names and units, with the score dimensions on their
0-100 scale and the rules named for what they do.

**The baseline.** LightGBM's ``pred_contrib`` (TreeSHAP) measures every feature against the
average training row, a mix of search and homepage pages: a homepage card, whose relevance
features are all missing, would get a large "relevance" contribution for *not* being
searched, and a search card whose query names no brand would be pushed down for
``brand_match = 0``. Here a feature that does not apply to the card (its value is missing, or
it is ``brand_match`` and the query names no brand of the catalog) contributes nothing: its
TreeSHAP contribution is moved into the baseline, which is therefore "the average card with
this card's missing and not-applicable figures". The sum stays exact: ``bias`` (the
baseline) + the contributions = the model score. With interactions in the trees, TreeSHAP
splits an interaction's effect between the features that take part, so the part shared with
a not-applicable feature stays with its partner; the moved part is the feature's own.
"""

from __future__ import annotations

import numpy as np

from ranking.features.registry import Feature, features
from ranking.features.snapshot import FeatureSnapshot
from ranking.features.units import format_value
from ranking.pipeline.candidates import CandidateSet
from ranking.recall.tokenize import search_form

AVERAGE_CARD = "average card"

# score dimensions: column -> what a merchant reads (all on a 0-100 scale)
PRODUCT_DIMENSIONS = {"product_information": "listing completeness", "product_popularity": "popularity",
                      "product_quality": "quality", "product_service": "after-sale service",
                      "product_brand": "brand strength", "product_price": "price competitiveness"}
STORE_DIMENSIONS = {"store_product_quality": "product quality", "store_logistics": "shipping and delivery",
                    "store_service": "customer service", "store_stability": "stability",
                    "returning_customer_index": "returning customers"}

# rule (as the notes name it) -> (what a merchant reads, what it does)
RULES: dict[str, tuple[str, str]] = {
    "theme_boost": ("campaign of the hour", "moves products of the time slot's themed category up"),
    "demotion": ("governance demotion", "moves products or stores flagged by governance down"),
    "traffic_policy": ("store-score traffic policy", "moves products of high-scoring stores up and of "
                       "low-scoring ones down; grade D stays below the fold"),
    "value_tilt": ("order-value tilt", "the mall's choice of order value over order count: dearer "
                   "products move up, cheaper ones down, by the log of price over the page's "
                   "median (rules.value_weight); not a judgement of the price"),
    "session_intent": ("this session's interest", "moves products of the categories the shopper "
                       "is browsing right now up"),
    "subsidy_slot": ("subsidy channel slot", "a position the caller reserved for the big-brand "
                     "subsidy channel"),
    "exploration": ("new-store exploration slot", "a position given at random to a new store's product"),
    "cold_start": ("cold start for new products", "a new product (or a new store's) explored by the "
                   "cold-start bandit: a budgeted slot drawn by Thompson sampling on its order-rate "
                   "posterior, with its stage (exploring, graduated, retired) and propensity"),
    "store_diversity": ("one store at a time", "at most so many cards of one store in a window of slots"),
    "shelf_spread": ("a varied shelf", "fills the page in score order under the category, brand, store "
                     "and subsidy-share caps"),
    "category_spread": ("one category at a time", "at most so many cards of one leaf category in a "
                        "window of slots, so a shelf is not one kind of product"),
    "min_categories": ("more kinds of product", "a page shows at least so many categories: the best card "
                       "of a missing one takes a bottom slot of a repeated one"),
    "brand_spread": ("one brand at a time", "at most so many cards of one brand in a window of slots"),
    "subsidy_share": ("the surface's subsidy share", "at most the surface's policy share of big-brand "
                      "subsidy cards on a page, so the badge keeps its meaning"),
    # the channel pages (ranking/channel_pacing.py, docs/channels.md)
    "subsidy_theme": ("the subsidy channel's theme and sessions", "the adjuster behind channel_theme and "
                      "subsidy_session"),
    "channel_theme": ("the channel's theme of the hour", "on the subsidy channel, products of the time "
                      "slot's themed category lead the slot"),
    "subsidy_session": ("timed subsidy session", "during a subsidy session (06:00, 12:00, 18:00) the "
                        "theme's deepest subsidies move up, in proportion to their subsidy depth"),
    "exposure_pacing": ("brand exposure pacing", "on the subsidy channel, a brand behind the pace of its "
                        "daily exposure promise moves up, one ahead of it moves down"),
    # the operator's merchandising rules (ranking/merchandising/, docs/merchandising.md); each note
    # names the rule (rule_id) and gives its reason
    "merchandising": ("the operator's rules", "per-query rules an operator set: pins, hides, boosts, "
                      "buries, filters and redirects"),
    "merch_pin": ("pinned by the operator", "an operator's rule put this product at this position"),
    "merch_pinned_above": ("below pinned cards", "products an operator pinned above this card moved it "
                           "down"),
    "merch_boost": ("operator boost", "an operator's rule moved these products up by a stated amount"),
    "merch_bury": ("operator bury", "an operator's rule moved these products down by a stated amount"),
    "merch_filter": ("operator filter", "an operator's rule shows only one category's or brand's "
                     "products for this query"),
}


def query_names_a_brand(query: str | None, brand_search_names: dict[int, str]) -> bool:
    """Whether the query's search form holds some catalog brand's name (what ``brand_match``
    looks for): without one, ``brand_match = 0`` says nothing about the card."""
    if not query:
        return False
    text = search_form(query)
    return any(name and name in text for name in brand_search_names.values())


def not_applicable(features: np.ndarray, names: list[str], brand_named: bool) -> np.ndarray:
    """(cards, features) mask of the figures that do not apply: missing, or ``brand_match``
    when the query names no brand."""
    mask = np.isnan(features)
    if not brand_named and "brand_match" in names:
        mask[:, names.index("brand_match")] = True
    return mask


def rebase(contributions: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(contributions with the not-applicable ones zeroed, their sum per card): the sum joins
    the bias, so bias + contributions still equals the score."""
    per_feature = contributions[:, :-1]
    moved = np.where(mask, per_feature, 0.0).sum(axis=1)
    return np.where(mask, 0.0, per_feature), moved


def feature_line(f: Feature | None, name: str, group: str, value: float | None, contribution: float) -> dict:
    """One contribution as the explanation lists it."""
    unit = f.unit if f is not None else "number"
    return {"feature": name, "label": (f.label if f is not None and f.label else name.replace("_", " ")),
            "group": group, "value": value, "unit": unit, "shown": format_value(value, unit),
            "contribution": contribution}


def dimension_lines(values: dict[str, float | None], labels: dict[str, str]) -> list[dict]:
    """Score dimensions on their 0-100 scale, in ``labels``' order."""
    return [{"dimension": d, "label": labels[d], "score": v,
             "shown": format_value(v, "score")} for d, v in values.items()]


def rule_lines(notes: list[dict]) -> list[dict]:
    """The rules' notes with each rule's name for people and what it does."""
    out = []
    for note in notes:
        label, does = RULES.get(note["rule"], (note["rule"].replace("_", " "), ""))
        out.append({**note, "label": label, "does": does})
    return out


def explain_page(cards: list[dict], page: CandidateSet, contributions: np.ndarray, names: list[str],
                 snapshot: FeatureSnapshot, query: str | None) -> None:
    """Add ``explanation`` to each card (see :class:`serving.schemas.Explanation` for every field)."""
    registry = {f.name: f for f in features()}
    groups = np.array([registry[n].group if n in registry else "other" for n in names])
    brand_named = query_names_a_brand(query, snapshot.text.brand_search_names())
    mask = not_applicable(page.features, names, brand_named)
    contrib, moved = rebase(contributions, mask)
    p_rows = snapshot.products.rows(page.product_ids)
    store_ids = snapshot.products.take("store_id", p_rows, -1).astype(np.int64)
    s_rows = snapshot.stores.rows(store_ids)
    for i, card in enumerate(cards):
        top = [j for j in np.argsort(-np.abs(contrib[i]), kind="stable")[:8] if contrib[i, j] != 0]
        values = [None if np.isnan(v) else float(v) for v in page.features[i]]
        product = {d: _value(snapshot.products, d, p_rows[i]) for d in PRODUCT_DIMENSIONS
                   if d in snapshot.products.columns}
        store = {d: _value(snapshot.stores, d, s_rows[i]) for d in STORE_DIMENSIONS
                 if d in snapshot.stores.columns}
        bias = float(contributions[i, -1])
        card["explanation"] = {
            "model_score": card["model_score"],
            "bias": bias + float(moved[i]),
            "baseline": {"label": AVERAGE_CARD, "average_card": bias, "not_applicable": float(moved[i]),
                         "not_applicable_features": [names[j] for j in np.flatnonzero(mask[i])]},
            "groups": {str(g): float(contrib[i][groups == g].sum()) for g in dict.fromkeys(groups)},
            "top_features": [feature_line(registry.get(names[j]), names[j], str(groups[j]), values[j],
                                          float(contrib[i, j])) for j in top],
            "product_dimensions": dimension_lines(product, PRODUCT_DIMENSIONS),
            "store_dimensions": dimension_lines(store, STORE_DIMENSIONS),
            "rules": rule_lines(page.notes(i)),
        }


def _value(table, column: str, row: int) -> float | None:
    v = float(table.take(column, np.array([row]))[0])
    return None if np.isnan(v) else v
