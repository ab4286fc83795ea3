"""Price advantage: how much cheaper a listing is than the same item elsewhere.

``advantage = (reference - price) / reference``, clipped to ``+-scores.price_advantage_clip``
(default 0.5): +0.2 means 20% cheaper than the reference, -0.2 means 20% dearer.

The reference, in order of preference:

(a) **comparable group**: the median price of the *other* stores' live (not banned)
    listings of the same comparable group;
(b) **outside reference**: the median outside-market price observed for the group in the
    scoring window (``reference_prices``, observations before the as-of moment);
    when both (a) and (b) exist the advantage is the mean of the two;
(c) **category for similar quality**: where neither exists, the price the leaf category
    charges for similar quality: ``exp(a_c + b * quality_c)`` from a least-squares fit of
    log price on the product's shrunk rating within its leaf (``b`` pooled over leaves),
    i.e. the category's typical price for a product rated like this one.

``price_advantage_source`` says which reference was used: ``comparable_group``,
``reference``, ``comparable_group+reference`` or ``category``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ranking.scores.window import in_window


def median_of_others(group: np.ndarray, price: np.ndarray, live: np.ndarray) -> np.ndarray:
    """Per listing: the median price of the *other* live listings of its group (NaN if none).

    Vectorised: with the group's live prices sorted ``v_0..v_{m-1}`` and this listing at
    sorted index ``i``, the others are ``v`` without ``v_i`` (``r = m - 1`` values), whose
    element ``j`` is ``v_j`` for ``j < i`` and ``v_{j+1}`` otherwise. A listing that is not
    live compares with all the group's live listings.
    """
    n = len(price)
    out = np.full(n, np.nan)
    rows = np.flatnonzero(live & ~np.isnan(price))
    if len(rows) == 0:
        return out
    order = rows[np.lexsort((price[rows], group[rows]))]
    g, v = group[order], price[order]
    start_flag = np.r_[True, g[1:] != g[:-1]]
    starts = np.flatnonzero(start_flag)
    gid = np.cumsum(start_flag) - 1
    size = np.diff(np.r_[starts, len(g)])[gid]
    first = starts[gid]
    i = np.arange(len(g)) - first

    def rem(j: np.ndarray) -> np.ndarray:
        return v[first + np.minimum(np.where(j < i, j, j + 1), size - 1)]

    r = size - 1
    ok = r >= 1
    odd = (r % 2) == 1
    j_odd = np.where(ok, (r - 1) // 2, 0)
    j_lo = np.where(ok, np.maximum(r // 2 - 1, 0), 0)
    j_hi = np.where(ok, r // 2, 0)
    med = np.where(odd, rem(j_odd), (rem(j_lo) + rem(np.minimum(j_hi, r - 1))) / 2)
    out[order] = np.where(ok, med, np.nan)
    # listings that are not live: the median of all the group's live listings
    dead = np.flatnonzero(~(live & ~np.isnan(price)))
    if len(dead):
        full = pd.Series(v).groupby(g).median()
        out[dead] = pd.Series(group[dead]).map(full).to_numpy(np.float64)
    return out


def price_advantage(products: pd.DataFrame, reference_prices: pd.DataFrame, rating: np.ndarray,
                    leaf: np.ndarray, as_of_ms: int, window_days: int, clip: float) -> pd.DataFrame:
    price = products.price.to_numpy(np.float64)
    group = products.comparable_group_id.to_numpy(np.int64)
    live = ~products.banned.to_numpy(bool)

    # (a) median of the other stores' live listings of the group
    others = median_of_others(group, price, live)

    # (b) outside reference prices observed in the window
    ref = reference_prices[in_window(reference_prices.observed_at.to_numpy(np.int64), as_of_ms,
                                     window_days)]
    med = ref.groupby("comparable_group_id").price.median()
    outside = pd.Series(group).map(med).to_numpy(np.float64)

    # (c) the leaf's price for similar quality: log price ~ a_leaf + b * rating
    logp = np.log(np.maximum(price, 0.01))
    df = pd.DataFrame({"leaf": leaf, "y": logp, "x": rating})
    xm = df.groupby("leaf").x.transform("mean").to_numpy()
    ym = df.groupby("leaf").y.transform("mean").to_numpy()
    dx, dy = rating - xm, logp - ym
    b = float((dx * dy).sum() / max((dx * dx).sum(), 1e-12))
    expected = np.exp(ym + b * dx)

    parts = combine_advantage(price, others, outside, expected, clip)
    return pd.DataFrame({**parts, "outside_price": outside, "category_price": expected},
                        index=products.product_id.to_numpy())


def combine_advantage(price: np.ndarray, others: np.ndarray, outside: np.ndarray, expected: np.ndarray,
                      clip: float) -> dict[str, np.ndarray]:
    """The advantage from its three references (module docstring): the other stores' median
    ``others`` (a), the outside median ``outside`` (b), the leaf's price for similar quality
    ``expected`` (c); NaN where a reference does not exist."""
    adv_group = (others - price) / others
    adv_ref = (outside - price) / outside
    adv_cat = (expected - price) / expected
    has_a, has_b = ~np.isnan(adv_group), ~np.isnan(adv_ref)
    count = has_a.astype(float) + has_b
    both = (np.where(has_a, adv_group, 0.0) + np.where(has_b, adv_ref, 0.0)) / np.maximum(count, 1)
    adv = np.where(has_a | has_b, both, adv_cat)
    source = np.where(has_a & has_b, "comparable_group+reference",
                      np.where(has_a, "comparable_group", np.where(has_b, "reference", "category")))
    return {
        "price_advantage": np.clip(adv, -clip, clip),
        "price_advantage_source": source,
        "price_advantage_comparable_group": adv_group,
        "price_advantage_reference": adv_ref,
        "reference_price": np.where(has_a, others, np.where(has_b, outside, expected)),
    }


def group_price_advantage(group: np.ndarray, price: np.ndarray, live: np.ndarray, outside: np.ndarray,
                          expected: np.ndarray, clip: float) -> np.ndarray:
    """Price advantage of listings given whole comparable groups (the live catalog recomputes
    the groups a price or a ban changed with this, as scoring does): (a) from these listings,
    (b) and (c) as scored (``outside_price``, ``category_price`` of the snapshot)."""
    others = median_of_others(group, price, live)
    return combine_advantage(price, others, outside, expected, clip)["price_advantage"]
