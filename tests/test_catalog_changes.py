"""The catalog change checks (ranking/catalog_changes.py) and their fold (ranking/live/catalog_state.py):
a bad row is refused naming its row and field, a new product needs every contract column, a
product's store never changes, a ban names known ids and a reason; folding twice is folding once."""

from __future__ import annotations

import pytest

from ranking.catalog_changes import (
    BANS,
    PRODUCT_CHANGES,
    STORE_CHANGES,
    CatalogInputError,
    check_ban,
    check_products,
    check_stores,
    to_epoch_ms,
)
from ranking.live.catalog_state import CatalogState

NOW = 1_780_000_000_000


class Known:
    """A catalog of two products of store 1, stores 1 and 2, leaf 10, brand 5."""

    def store_of(self, product_id: int) -> int | None:
        return {100: 1, 101: 1}.get(product_id)

    def has_store(self, store_id: int) -> bool:
        return store_id in (1, 2)

    def has_leaf(self, category_id: int) -> bool:
        return category_id == 10

    def has_brand(self, brand_id: int) -> bool:
        return brand_id == 5


NEW = {"product_id": 200, "store_id": 2, "brand_id": 5, "category_id": 10, "comparable_group_id": 7,
       "title": "五常大米 5kg", "attribute_count": 3, "image_count": 2, "price": 39.5, "list_price": 49.0,
       "stock": 10, "subsidy": False}


def _problems(call) -> dict[tuple, str]:
    with pytest.raises(CatalogInputError) as exc:
        call()
    return {tuple(p.loc): p.msg for p in exc.value.problems}


def test_an_update_of_a_known_product_sends_only_what_changes() -> None:
    rows, new = check_products([{"product_id": 100, "price": 12, "stock": 0}], Known(), NOW)
    assert new == 0
    assert rows == [{"product_id": 100, "price": 12.0, "stock": 0, "changed_ms": NOW}]
    assert isinstance(rows[0]["price"], float)


def test_a_new_product_needs_every_contract_column_and_known_references() -> None:
    rows, new = check_products([{**NEW, "changed_at": "2026-12-05T08:00:00Z"}], Known(), NOW)
    assert new == 1 and rows[0]["banned"] is False
    assert rows[0]["listed_at"] == rows[0]["changed_ms"] == to_epoch_ms("2026-12-05T08:00:00+00:00")
    missing = {k: v for k, v in NEW.items() if k not in ("title", "price")}
    found = _problems(lambda: check_products([missing], Known(), NOW))
    assert found == {("body", 0, "title"): "required for a new product",
                     ("body", 0, "price"): "required for a new product"}
    found = _problems(lambda: check_products([{**NEW, "store_id": 9, "category_id": 11, "brand_id": 6}],
                                             Known(), NOW))
    assert set(found) == {("body", 0, "store_id"), ("body", 0, "category_id"), ("body", 0, "brand_id")}


def test_bad_values_unknown_fields_and_a_store_change_are_named() -> None:
    rows = [{"product_id": 100, "price": -1.0, "stock": 1.5, "subsidy": "yes", "colour": "red"},
            {"product_id": 101, "store_id": 2, "title": ""},
            {"price": 3.0},
            "not an object",
            {"product_id": 100, "stock": 2**40, "price": float("nan"), "changed_at": "soon"}]
    found = _problems(lambda: check_products(rows, Known(), NOW))
    assert found == {
        ("body", 0, "price"): "below 0.0",
        ("body", 0, "stock"): "must be an integer, not float",
        ("body", 0, "subsidy"): "must be true or false, not str",
        ("body", 0, "colour"): found[("body", 0, "colour")],
        ("body", 1, "store_id"): "a product's store never changes (it is 1)",
        ("body", 1, "title"): "must be a non-empty text of at most 1000 characters",
        ("body", 2, "product_id"): "required",
        ("body", 3): "must be a JSON object",
        ("body", 4, "stock"): "out of the 32-bit integer range",
        ("body", 4, "price"): "must be a finite number",
        ("body", 4, "changed_at"): found[("body", 4, "changed_at")],
    }
    assert found[("body", 0, "colour")].startswith("unknown field")


def test_a_ban_names_known_ids_and_a_reason() -> None:
    body = {"product_ids": [101, 100, 100], "store_ids": [2], "reason": "counterfeit"}
    ban = check_ban(body, Known(), NOW, 10)
    assert ban == {"product_ids": [100, 101], "store_ids": [2], "reason": "counterfeit", "unban": False,
                   "changed_ms": NOW}
    found = _problems(lambda: check_ban({"product_ids": [100, 999], "store_ids": [7], "unban": "no"},
                                        Known(), NOW, 10))
    assert found == {("body", "product_ids"): "unknown ids: [999]", ("body", "store_ids"): "unknown ids: [7]",
                     ("body", "unban"): "must be true or false",
                     ("body", "reason"): "required: a non-empty text of at most 1000 characters"}
    assert _problems(lambda: check_ban({"reason": "x"}, Known(), NOW, 10)) == {
        ("body", "product_ids"): "name at least one product or store"}
    too_many = {"product_ids": [100, 101], "reason": "x"}
    assert ("body",) in _problems(lambda: check_ban(too_many, Known(), NOW, 1))


def test_a_store_is_a_whole_stores_row() -> None:
    rows, new = check_stores([{"store_id": 3, "name": "新店", "opened_at": NOW, "region": "江苏"},
                              {"store_id": 1, "name": "改名", "opened_at": "2026-01-01", "region": "浙江"}],
                             Known(), NOW)
    assert new == 1 and rows[1]["opened_at"] == to_epoch_ms("2026-01-01T00:00:00+00:00")
    assert _problems(lambda: check_stores([{"store_id": 3, "name": "x"}], Known(), NOW)) == {
        ("body", 0, "opened_at"): "required", ("body", 0, "region"): "required"}


def test_folding_keeps_the_latest_values_and_twice_is_once() -> None:
    rows = [(PRODUCT_CHANGES, {"product_id": 100, "price": 10.0, "changed_ms": 1}),
            (BANS, {"product_ids": [100], "store_ids": [2], "reason": "x", "unban": False}),
            (PRODUCT_CHANGES, {"product_id": 100, "stock": 0, "price": 9.0, "_client": "operator"}),
            (STORE_CHANGES, {"store_id": 3, "name": "新店", "opened_at": NOW, "region": "江苏"}),
            (BANS, {"product_ids": [], "store_ids": [2], "reason": "appeal", "unban": True})]
    once, twice = CatalogState(), CatalogState()
    folded = once.fold(rows)
    twice.fold(rows)
    twice.fold(rows)
    latest = {100: {"product_id": 100, "price": 9.0, "stock": 0, "banned": True}}
    assert once.products == twice.products == latest
    assert once.banned_stores == twice.banned_stores == {}
    assert folded.products == {100} and folded.store_bans == {2} and folded.stores
    assert not once.complete(100) and 3 in once.stores
