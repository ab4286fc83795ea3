"""The returning-customer index per store (0-100).

* repeat-purchase rate = buyers who ordered on two or more days / buyers (window);
* returning buyers' positive-review rate = their reviews rated 4-5 / their reviews;

both shrunk toward the category prior; ``returning_customer_index`` = the mean of their
percentiles within the store's category.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ranking.scores.shrinkage import category_prior, percentile_within, shrunk_rate


def returning_customer_index(agg: pd.DataFrame, category: np.ndarray, k: float) -> pd.DataFrame:
    def rate(num: str, den: str) -> np.ndarray:
        n, d = agg[num].to_numpy(), agg[den].to_numpy()
        return shrunk_rate(n, d, category_prior(n, d, category, strength=k), k)

    out = pd.DataFrame(index=agg.index)
    out["repeat_purchase_rate"] = rate("returning_buyers_n", "buyers_n")
    out["returning_positive_review_rate"] = rate("returning_positive_reviews_n", "returning_reviews_n")
    out["returning_customer_index"] = (
        percentile_within(out.repeat_purchase_rate.to_numpy(), category)
        + percentile_within(out.returning_positive_review_rate.to_numpy(), category)) / 2
    return out
