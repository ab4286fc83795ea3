"""Offer features: a product's trust and offer attributes (ranking.badges) and subsidy depth.

One flag per attribute a card shows as a badge (free shipping, freight insurance, 7-day
returns, authenticity guarantee, pay later, multi-item discount), read from the catalog
columns of the same name (:data:`ranking.card_badges.OFFER_COLUMNS`; the live catalog
overlays a merchant's change), and the share of the list price the platform's subsidy pays.
A mall that records none reads 0 (the contract's default), so the model learns nothing from
them there.
"""

from __future__ import annotations

import numpy as np

from ranking.features.inputs import FeatureInputs
from ranking.features.registry import feature


def _flag(x: FeatureInputs, column: str) -> np.ndarray:
    return np.nan_to_num(x.product_column(column), nan=0.0)


@feature("free_shipping", "product", "1 if it ships free (包邮)", default=0.0,
         label="free shipping", unit="flag")
def free_shipping(x: FeatureInputs) -> np.ndarray:
    return _flag(x, "free_shipping")


@feature("freight_insurance", "product", "1 if freight insurance pays return shipping (退货补运费)",
         default=0.0, label="freight insurance", unit="flag")
def freight_insurance(x: FeatureInputs) -> np.ndarray:
    return _flag(x, "freight_insurance")


@feature("seven_day_returns", "product", "1 if it has 7-day no-reason returns (七天无理由)",
         default=0.0, label="7-day returns", unit="flag")
def seven_day_returns(x: FeatureInputs) -> np.ndarray:
    return _flag(x, "seven_day_returns")


@feature("authentic_guarantee", "product", "1 if it carries the authenticity guarantee (假一赔九)",
         default=0.0, label="authenticity guarantee", unit="flag")
def authentic_guarantee(x: FeatureInputs) -> np.ndarray:
    return _flag(x, "authentic_guarantee")


@feature("pay_later", "product", "1 if it can be paid later or in instalments (先用后付、分期)",
         default=0.0, label="pay later", unit="flag")
def pay_later(x: FeatureInputs) -> np.ndarray:
    return _flag(x, "pay_later")


@feature("multi_item_discount", "product", "1 if buying several earns a discount (多件多折)",
         default=0.0, label="multi-item discount", unit="flag")
def multi_item_discount(x: FeatureInputs) -> np.ndarray:
    return _flag(x, "multi_item_discount")


@feature("subsidy_depth", "product", "share of the list price the platform's subsidy pays, 0-1",
         default=0.0, label="subsidy depth", unit="percent")
def subsidy_depth(x: FeatureInputs) -> np.ndarray:
    return _flag(x, "subsidy_depth")
