"""Card badges: the stable codes a product card carries, and the catalog column behind each.

A badge is what a shopper sees on a card and may filter on (``free_shipping=true``). The
codes are part of the API: a front end maps them to its own icons and words, so a code is
never renamed. Six come straight from a product's trust and offer attributes (the catalog
columns of the same name, :data:`ranking.contracts.tables.PRODUCTS`); ``subsidy`` is the
big-brand subsidy channel's flag; ``new_product`` is a listing younger than
``badges.new_product_days`` at the request's time
(:mod:`ranking.card_badges` reads them for a page).
"""

from __future__ import annotations

from typing import Literal, get_args

# trust and offer attributes: badge code == product column
AttributeBadge = Literal["free_shipping", "freight_insurance", "seven_day_returns",
                         "authentic_guarantee", "pay_later", "multi_item_discount"]
ATTRIBUTE_BADGES: tuple[str, ...] = get_args(AttributeBadge)
Badge = Literal["free_shipping", "freight_insurance", "seven_day_returns", "authentic_guarantee",
                "pay_later", "multi_item_discount", "subsidy", "new_product"]
BADGES: tuple[str, ...] = get_args(Badge)  # in the order a card lists them
SUBSIDY, NEW_PRODUCT = "subsidy", "new_product"
