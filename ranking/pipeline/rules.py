"""Business rules: filters that remove candidates (with the reason) and score adjusters.

Filters return a keep mask and, for every removed candidate, why (``banned``,
``out_of_stock``, ``unknown_product``, ``filter:price``...): nothing vanishes
unexplained. Adjusters never touch the model score; they add a move to
``CandidateSet.adjustments`` and a note per candidate that ``explain`` shows. Moves are
in units of the candidates' score standard deviation, so a rule means the same on any
model: ``adjustment = weight x std(model scores)`` (std taken as 1 below two candidates).
The exception is :class:`ValueTilt`, which trades purchases for order value in the raw
score's units (log-odds with the funnel model).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ranking.features.inputs import slot_of_hour
from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.settings import RulesSettings


class Filter(Protocol):
    name: str

    def apply(self, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot
              ) -> tuple[np.ndarray, np.ndarray]:
        """(keep mask, reason per candidate; reasons of kept ones are ignored)."""
        ...


class Adjuster(Protocol):
    name: str

    def apply(self, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot) -> None:
        ...


def _column(snapshot: FeatureSnapshot, cands: CandidateSet, column: str, missing: float = 0.0
            ) -> np.ndarray:
    rows = snapshot.products.rows(cands.product_ids)
    if column not in snapshot.products.columns:
        return np.full(len(cands), missing)
    return snapshot.products.take(column, rows, missing=missing)


def score_spread(scores: np.ndarray) -> float:
    """Standard deviation of the candidates' model scores (1.0 when undefined or zero)."""
    if len(scores) < 2:
        return 1.0
    sd = float(np.std(scores))
    return sd if sd > 1e-12 else 1.0


@dataclass
class KnownProducts:
    """Drops ids the bundle does not know (a caller's stale or mistyped candidates)."""

    name: str = "known_products"

    def apply(self, cands, request, snapshot):
        keep = snapshot.products.rows(cands.product_ids) >= 0
        return keep, np.where(keep, "", "unknown_product")


@dataclass
class Governance:
    """Banned products and products without stock are never shown."""

    settings: RulesSettings
    name: str = "governance"

    def apply(self, cands, request, snapshot):
        reason = np.full(len(cands), "", dtype=object)
        if self.settings.drop_out_of_stock:
            reason[_column(snapshot, cands, "stock", missing=1.0) <= 0] = "out_of_stock"
        if self.settings.drop_banned:
            reason[_column(snapshot, cands, "banned") > 0] = "banned"
        return reason == "", reason


@dataclass
class RequestFilters:
    """The caller's own filters: price range, category (leaf or top level), store."""

    name: str = "request_filters"

    def apply(self, cands, request, snapshot):
        reason = np.full(len(cands), "", dtype=object)
        price = _column(snapshot, cands, "price", missing=np.nan)
        if request.price_min is not None:
            reason[~(price >= request.price_min)] = "filter:price_min"
        if request.price_max is not None:
            reason[~(price <= request.price_max)] = "filter:price_max"
        if request.category_id is not None:
            leaf = _column(snapshot, cands, "category_id", missing=-1)
            top = _column(snapshot, cands, "top_category_id", missing=-1)
            reason[(leaf != request.category_id) & (top != request.category_id)] = "filter:category"
        if request.store_id is not None:
            reason[_column(snapshot, cands, "store_id", missing=-1) != request.store_id] = "filter:store"
        return reason == "", reason


@dataclass
class Demotion:
    """Products or stores flagged by governance (quality returns far above their category)."""

    settings: RulesSettings
    name: str = "demotion"

    def apply(self, cands, request, snapshot):
        if self.settings.demotion_penalty == 0 or cands.scores is None:
            return
        product_flag = _column(snapshot, cands, "demoted") > 0
        store_ids = _column(snapshot, cands, "store_id", missing=-1).astype(np.int64)
        store_rows = snapshot.stores.rows(store_ids)
        store_flag = (snapshot.stores.take("demoted", store_rows, missing=0.0) > 0
                      if "demoted" in snapshot.stores.columns else np.zeros(len(cands), bool))
        hit = product_flag | store_flag
        delta = -self.settings.demotion_penalty * score_spread(cands.scores)
        cands.adjustments[hit] += delta
        for i in np.flatnonzero(hit):
            why = "product" if product_flag[i] else "store"
            cands.rule_notes[i].append({"rule": self.name, "delta": delta,
                                        "why": f"{why} quality returns far above its category"})


@dataclass
class ThemeBoost:
    """Products of the time-slot theme in force at the request's hour move up."""

    settings: RulesSettings
    name: str = "theme_boost"

    def apply(self, cands, request, snapshot):
        if self.settings.theme_boost == 0 or cands.scores is None:
            return
        category = _column(snapshot, cands, "category_id", missing=-1).astype(np.int64)
        leaf = snapshot.leaf_of_category(category)
        theme_slot = np.where(leaf >= 0, snapshot.leaf_theme_slot[np.maximum(leaf, 0)], -1)
        now_slot = int(slot_of_hour(np.array([request.hour]))[0])
        hit = theme_slot == now_slot
        delta = self.settings.theme_boost * score_spread(cands.scores)
        cands.adjustments[hit] += delta
        for i in np.flatnonzero(hit):
            cands.rule_notes[i].append({"rule": self.name, "delta": delta,
                                        "why": f"category is the theme at {request.hour:02d}:00"})


@dataclass
class ValueTilt:
    """Dearer products move up by ``value_weight x log(price / median candidate price)``.

    Unlike the other adjusters this one is in the model's raw score units, not score
    deviations: with the funnel model (raw score about the log-odds of a purchase) a weight
    of 1 ranks by expected order value, purchase probability x price, and 0.5 halfway
    between purchases and value. It is the mall's choice between orders and GMV, made
    explicit (docs/serving.md). A LambdaRank score has no units to trade a log price
    against, so with ``score_is_log_odds=False`` the rule does nothing.
    """

    settings: RulesSettings
    score_is_log_odds: bool = True
    name: str = "value_tilt"

    def apply(self, cands, request, snapshot):
        if (self.settings.value_weight == 0 or not self.score_is_log_odds or cands.scores is None
                or len(cands) == 0):
            return
        log_price = np.log(np.maximum(_column(snapshot, cands, "price", missing=np.nan), 0.01))
        known = np.isfinite(log_price)
        if not known.any():
            return
        delta = np.where(known, self.settings.value_weight * (log_price - np.median(log_price[known])), 0.0)
        cands.adjustments += delta
        # every candidate moves: one vector, its notes made only for explained cards
        cands.rule_moves[self.name] = (delta, "dearer than the median candidate",
                                       "cheaper than the median candidate")


def default_filters(settings: RulesSettings) -> list[Filter]:
    return [KnownProducts(), Governance(settings), RequestFilters()]


def default_adjusters(settings: RulesSettings, score_is_log_odds: bool = False) -> list[Adjuster]:
    return [Demotion(settings), ThemeBoost(settings), ValueTilt(settings, score_is_log_odds)]
