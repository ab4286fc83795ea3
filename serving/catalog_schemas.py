"""The catalog API's answers and the examples its OpenAPI page shows (serving/routes/catalog.py).

The request bodies are checked by :mod:`ranking.catalog_changes` against the ``products`` and
``stores`` contracts (docs/data.md), which name every column; the examples here show a new
product, a price and stock update, a ban and a store.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class CatalogApplied(BaseModel):
    """What a product or store upsert accepted (durable; every worker applies it within about
    ``live.poll_ms``)."""

    accepted: int = Field(description="rows written to the catalog change log")
    new: int = Field(description="of which products (stores) the catalog did not know")
    updated: int = Field(description="of which changes to known products (stores)")


class BanApplied(BaseModel):
    """What a ban request accepted."""

    products: int = Field(description="distinct products banned (or unbanned)")
    stores: int = Field(description="distinct stores banned (or unbanned): every product of each")
    unban: bool = Field(description="whether the ban was lifted")


PRODUCT_EXAMPLES = {
    "update": {"summary": "a price cut and a restock of a known product",
               "value": [{"product_id": 1017, "price": 59.0, "stock": 120}]},
    "free_shipping": {"summary": "a merchant turns free shipping and pay later on (the cards' badges and the "
                               "free_shipping / pay_later filters follow within a second)",
                      "value": [{"product_id": 1017, "free_shipping": True, "pay_later": True}]},
    "sold_out": {"summary": "a product sold out (it leaves every page)",
                 "value": [{"product_id": 1017, "stock": 0}]},
    "new": {"summary": "a new product (every required products column; the trust and offer attributes "
                       "default to false)",
            "value": [{"product_id": 990001, "store_id": 12, "brand_id": 7, "category_id": 103,
                       "comparable_group_id": 5551, "title": "五常大米 5kg", "attribute_count": 8,
                       "image_count": 5, "price": 69.9, "list_price": 89.0, "stock": 300,
                       "subsidy": False, "free_shipping": True, "seven_day_returns": True,
                       "changed_at": "2026-12-05T09:30:00+08:00"}]},
}
BAN_EXAMPLES = {
    "ban": {"summary": "ban a counterfeit and a whole store",
            "value": {"product_ids": [1017], "store_ids": [12], "reason": "counterfeit report #4411",
                      "unban": False}},
    "unban": {"summary": "lift a ban",
              "value": {"product_ids": [1017], "reason": "appeal upheld", "unban": True}},
}
STORE_EXAMPLES = {
    "new": {"summary": "a new store", "value": [{"store_id": 901, "name": "新农优选旗舰店",
                                                  "opened_at": "2026-12-05T00:00:00Z", "region": "黑龙江"}]},
}
