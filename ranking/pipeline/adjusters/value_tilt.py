"""Value tilt: the mall's explicit choice between orders and order value (GMV).

Each product's price floored at 0.01 is kept per price column (:data:`FLOORED_PRICES`) and read
for a request's candidates with one take; their log and median are the request's (when every
candidate's price is known, as on most pages, without masking the unknown ones out).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.derived_columns import DerivedColumn
from ranking.settings import RulesSettings


def middle(values: np.ndarray) -> float:
    """``np.median`` of a non-empty float64 array without NaN, to the bit (the middle order
    statistic, or the two middle ones' sum halved, as ``np.mean`` of two values computes it) from one
    ``np.partition``: np.median's checks and reductions cost ~15 us a page more."""
    n = len(values)
    k = n // 2
    if n % 2:
        return np.partition(values, k)[k]
    part = np.partition(values, (k - 1, k))
    return (part[k - 1] + part[k]) / 2


def _floored_prices(price: np.ndarray) -> np.ndarray:
    """Every product's price (float64, as ``product_column`` reads it) floored at 0.01, then an
    unknown product's (NaN: ``np.maximum`` keeps it)."""
    return np.maximum(np.r_[np.asarray(price).astype(np.float64), np.nan], 0.01)


# kept while the price column is the same array (the live catalog swaps a changed column whole)
FLOORED_PRICES = DerivedColumn(_floored_prices)


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

    def apply(self, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot) -> None:
        if (self.settings.value_weight == 0 or not self.score_is_log_odds or cands.scores is None
                or len(cands) == 0):
            return
        products = snapshot.products  # read once: the live catalog swaps the table whole
        if "price" not in products.columns:  # every price unknown: nothing moves
            return
        log_price = np.log(FLOORED_PRICES.candidates(products, cands, products.columns["price"]))
        known = np.isfinite(log_price)
        n_known = int(np.count_nonzero(known))
        if not n_known:
            return
        if n_known == len(log_price):  # every price known (most pages): no mask to apply, the same floats
            delta = self.settings.value_weight * (log_price - middle(log_price))
        else:
            delta = np.where(known, self.settings.value_weight * (log_price - middle(log_price[known])), 0.0)
        cands.adjustments += delta
        # every candidate moves: one vector, its notes made only for explained cards
        cands.rule_moves[self.name] = (delta, "dearer than the median candidate",
                                       "cheaper than the median candidate")
