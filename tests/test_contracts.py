"""Data contracts: loading a table validates it and names the file and column at fault."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ranking.contracts import TABLES, ContractError, read_table, validate_dataset, write_table
from ranking.contracts.tables import TIMESTAMP


def _brands(**override: object) -> dict:
    cols = {
        "brand_id": pa.array([1, 2], pa.int32()),
        "name": pa.array(["金龙", "Kalo"]),
        "tier": pa.array(["big_brand", "white_label"]),
    }
    cols.update(override)
    return cols


def test_every_column_has_a_meaning_and_every_table_a_row_description() -> None:
    for table in TABLES.values():
        assert table.row
        for col in table.columns:
            assert len(col.meaning) > 3, f"{table.name}.{col.name} has no meaning"


def test_round_trip_keeps_the_contract_schema(tmp_path: Path) -> None:
    write_table(tmp_path, "brands", pa.table(_brands()))
    loaded = read_table(tmp_path, "brands")
    assert loaded.schema.equals(TABLES["brands"].schema, check_metadata=False)
    assert loaded.column("name").to_pylist() == ["金龙", "Kalo"]


def test_missing_column_names_the_file_and_the_column(tmp_path: Path) -> None:
    cols = _brands()
    del cols["tier"]
    pq.write_table(pa.table(cols), tmp_path / "brands.parquet")
    with pytest.raises(ContractError, match=r"brands\.parquet: column 'tier' is missing"):
        read_table(tmp_path, "brands")


def test_mistyped_column_is_refused(tmp_path: Path) -> None:
    pq.write_table(pa.table(_brands(brand_id=pa.array(["a", "b"]))), tmp_path / "brands.parquet")
    with pytest.raises(ContractError, match=r"column 'brand_id' has type string, expected int32"):
        read_table(tmp_path, "brands")


def test_safe_integer_widening_is_accepted_and_narrowing_is_not(tmp_path: Path) -> None:
    pq.write_table(pa.table(_brands(brand_id=pa.array([1, 2], pa.int8()))), tmp_path / "brands.parquet")
    assert read_table(tmp_path, "brands").schema.field("brand_id").type == pa.int32()
    pq.write_table(pa.table(_brands(brand_id=pa.array([1, 2], pa.int64()))), tmp_path / "brands.parquet")
    with pytest.raises(ContractError, match="brand_id"):
        read_table(tmp_path, "brands")


def test_values_outside_the_allowed_set_or_range_are_named(tmp_path: Path) -> None:
    pq.write_table(pa.table(_brands(tier=pa.array(["big_brand", "famous"]))), tmp_path / "brands.parquet")
    with pytest.raises(ContractError, match=r"column 'tier' holds 'famous'"):
        read_table(tmp_path, "brands")
    reviews = pa.table({
        "order_id": pa.array([1], pa.int64()),
        "timestamp": pa.array([0], pa.int64()).cast(TIMESTAMP),
        "user_id": pa.array([1], pa.int64()),
        "product_id": pa.array([1], pa.int64()),
        "store_id": pa.array([1], pa.int32()),
        "rating": pa.array([6], pa.int8()),
    })
    pq.write_table(reviews, tmp_path / "reviews.parquet")
    with pytest.raises(ContractError, match=r"column 'rating' holds 6, above its maximum 5"):
        read_table(tmp_path, "reviews")


def test_nulls_in_a_required_column_are_refused(tmp_path: Path) -> None:
    pq.write_table(pa.table(_brands(name=pa.array(["a", None]))), tmp_path / "brands.parquet")
    with pytest.raises(ContractError, match=r"column 'name' has 1 null"):
        read_table(tmp_path, "brands")


def test_a_truncated_file_is_a_clear_error_not_a_crash(tmp_path: Path) -> None:
    write_table(tmp_path, "brands", pa.table(_brands()))
    path = tmp_path / "brands.parquet"
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(ContractError, match=r"brands\.parquet: not a readable Parquet file"):
        read_table(tmp_path, "brands")


def test_missing_table_and_dangling_references_are_reported(tmp_path: Path) -> None:
    problems = validate_dataset(tmp_path)
    assert any("table 'products' is missing" in p for p in problems)


def test_writing_refuses_data_that_breaks_the_contract(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="tier"):
        write_table(tmp_path, "brands", pa.table(_brands(tier=pa.array(["x", "y"]))))
    assert not (tmp_path / "brands.parquet").exists()


def test_docs_data_md_is_generated_from_the_contracts() -> None:
    from ranking.contracts.docs import render

    doc = Path(__file__).resolve().parents[1] / "docs" / "data.md"
    assert doc.read_text() == render(), "run: python -m ranking.contracts.docs > docs/data.md"


def _impressions(request_id: list[int], position: list[int]) -> pa.Table:
    n = len(request_id)
    return pa.table({
        "request_id": pa.array(request_id, pa.int64()),
        "timestamp": pa.array([1_780_000_000_000] * n, TIMESTAMP),
        "user_id": pa.array([1] * n, pa.int64()),
        "surface": pa.array(["homepage"] * n),
        "query_id": pa.array([None] * n, pa.int64()),
        "product_id": pa.array(list(range(n)), pa.int64()),
        "position": pa.array(position, pa.int16()),
        "variant": pa.array(["logging_policy"] * n),
        "propensity": pa.array([1.0] * n),
    })


def test_two_impressions_in_one_slot_of_one_page_are_refused_sorted_or_not(tmp_path: Path) -> None:
    """A log written twice used to pass validate and then crash training's position-bias
    estimate (or silently double every card's impressions in the scores)."""
    fine = _impressions([5, 3, 3, 4], [1, 2, 1, 1])  # out of order, no repeat
    pq.write_table(fine, tmp_path / "impressions.parquet")
    assert read_table(tmp_path, "impressions").num_rows == 4
    for table in (_impressions([3, 3, 4, 4, 4], [1, 2, 1, 2, 2]), _impressions([4, 3, 4, 3], [2, 1, 2, 9])):
        pq.write_table(table, tmp_path / "impressions.parquet")
        with pytest.raises(ContractError, match=r"impressions\.parquet: 1 row\(s\) repeat the "
                                                r"\(request_id, position\).*request_id 4, position 2"):
            read_table(tmp_path, "impressions")
        assert any("repeat the (request_id, position)" in p for p in validate_dataset(tmp_path))
    # a read of other columns does not need the key; a read of the key's columns does (the
    # distributed feature build reads impressions by columns, and would count the repeat)
    assert read_table(tmp_path, "impressions", columns=["product_id"]).num_rows == 4
    with pytest.raises(ContractError, match=r"repeat the \(request_id, position\)"):
        read_table(tmp_path, "impressions", columns=["request_id", "position", "product_id"])


def test_an_order_line_written_twice_is_refused(small_mall: Path, tmp_path: Path) -> None:
    """Orders are unique on (order_id, product_id): a repeated line would count twice in the
    product score's sales and the store's order counts."""
    orders = pq.read_table(small_mall / "orders.parquet")
    assert read_table(small_mall, "orders").num_rows == orders.num_rows
    pq.write_table(pa.concat_tables([orders, orders.slice(10, 1)]), tmp_path / "orders.parquet")
    repeat = r"orders\.parquet: 1 row\(s\) repeat the \(order_id, product_id\)"
    with pytest.raises(ContractError, match=repeat):
        read_table(tmp_path, "orders")


def test_repeated_rows_lists_every_later_holder_of_a_key_sorted_or_not() -> None:
    from ranking.contracts.io import repeated_rows

    a, b = np.array([3, 1, 3, 2, 3, 1]), np.array([9, 5, 9, 5, 8, 5])
    assert repeated_rows([a, b]).tolist() == [2, 5]  # (3, 9) again at 2, (1, 5) again at 5
    assert repeated_rows([np.array([1, 2, 3]), np.array([7, 7, 7])]).tolist() == []  # sorted: no sort
    assert repeated_rows([np.array([4])]).tolist() == []


def test_repeated_rows_fast_path_agrees_with_the_exact_sort() -> None:
    """Unsorted keys are first checked by one sort of a hash of the keys; every answer must
    be the exact one, with and without repeats, whatever the integer dtypes."""
    from ranking.contracts.io import repeated_rows

    rng = np.random.default_rng(3)
    request = rng.permutation(50_000).astype(np.int64) * 1_000_003
    product = rng.integers(0, 2**40, size=50_000)
    assert repeated_rows([request, product]).tolist() == []
    position = np.array([3, 1, 3, 2], dtype=np.int16)  # int16 next to int64, as in a click's key
    assert repeated_rows([np.array([9, 8, 9, 8]), position]).tolist() == [2]
    repeated = np.concatenate([request, request[[17, 4]]]), np.concatenate([product, product[[17, 4]]])
    assert repeated_rows(list(repeated)).tolist() == [50_000, 50_001]
    same_request_other_product = [np.concatenate([request, request[:1]]),
                                  np.concatenate([product, product[:1] + 1])]
    assert repeated_rows(same_request_other_product).tolist() == []


@pytest.mark.parametrize(("table", "key"), [
    ("clicks", "request_id, product_id"),
    ("carts", "request_id, product_id"),
    ("shipments", "order_id"),
    ("returns", "order_id, product_id"),
    ("reviews", "order_id, product_id"),
    ("service_tickets", "ticket_id"),
])
def test_an_event_row_written_twice_is_refused(small_mall: Path, tmp_path: Path, table: str,
                                               key: str) -> None:
    """Every event table has a key: a click or cart posted again (a frontend retry) used to
    count twice in the product score's clicks, the personal features and the experiment
    counts; a shipment, return, review or ticket written twice, twice in the store scores."""
    rows = pq.read_table(small_mall / f"{table}.parquet")
    assert read_table(small_mall, table).num_rows == rows.num_rows  # the simulator holds no repeat
    again = rows.slice(rows.num_rows // 2, 1)
    if "timestamp" in rows.column_names:  # a retry a moment later is the same event
        again = again.set_column(again.column_names.index("timestamp"), "timestamp",
                                 pa.array([again.column("timestamp")[0].value + 1500], pa.int64())
                                 .cast(again.schema.field("timestamp").type))
    pq.write_table(pa.concat_tables([rows, again.cast(rows.schema)]), tmp_path / f"{table}.parquet")
    with pytest.raises(ContractError, match=rf"{table}\.parquet: 1 row\(s\) repeat the \({key}\)"):
        read_table(tmp_path, table)


def test_validate_reads_a_big_table_a_row_group_at_a_time(small_mall: Path, tmp_path: Path) -> None:
    """``check_dataset`` checks a big table a row group at a time and keeps only the columns later
    checks read: the same columns as a whole read, the same refusals (a bad value names its group;
    a key repeated across groups is still found)."""
    from ranking.contracts.io import read_checked_columns

    impressions = read_table(small_mall, "impressions")
    keep = ["request_id", "user_id", "product_id"]

    def written(table: pa.Table, name: str) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        pq.write_table(table, folder / "impressions.parquet", row_group_size=100_000)
        assert pq.ParquetFile(folder / "impressions.parquet").metadata.num_row_groups == 4
        return folder

    clean = read_checked_columns(written(impressions, "clean"), "impressions", keep)
    assert clean.equals(impressions.select(keep))

    position = impressions.column("position").to_numpy().copy()
    position[250_000] = 0  # below the contract's minimum, in the third row group
    bad = impressions.set_column(6, "position", pa.array(position, pa.int16()))
    with pytest.raises(ContractError, match=r"\(row group 2\): column 'position' holds 0"):
        read_checked_columns(written(bad, "bad"), "impressions", keep)

    request = impressions.column("request_id").to_numpy().copy()
    request[350_000], position = request[0], impressions.column("position").to_numpy().copy()
    position[350_000] = position[0]  # the first card's page and slot again, three groups later
    twice = impressions.set_column(0, "request_id", pa.array(request)).set_column(
        6, "position", pa.array(position, pa.int16()))
    with pytest.raises(ContractError, match="repeat the"):
        read_checked_columns(written(twice, "twice"), "impressions", keep)


def test_an_optional_column_a_file_lacks_reads_as_its_default(tmp_path: Path) -> None:
    """A mall that records no trust attributes (an older export) reads False and 0, not an error."""
    import pyarrow.parquet as pq

    from ranking.contracts import read_table
    from ranking.contracts.tables import PRODUCTS

    optional = [c.name for c in PRODUCTS.columns if c.default is not None]
    assert "free_shipping" in optional and "subsidy_depth" in optional
    required = [c for c in PRODUCTS.columns if c.default is None]
    row = {"product_id": 1, "store_id": 1, "brand_id": 1, "category_id": 1, "comparable_group_id": 1,
           "title": "t", "attribute_count": 0, "image_count": 1, "price": 1.0, "list_price": 2.0,
           "stock": 3, "subsidy": False, "banned": False, "listed_at": 0}
    table = pa.table({c.name: pa.array([row[c.name]]).cast(c.type) for c in required})
    pq.write_table(table, tmp_path / "products.parquet")
    read = read_table(tmp_path, "products")
    assert read.column("free_shipping").to_pylist() == [False]
    assert read.column("subsidy_depth").to_pylist() == [0.0]
    some = read_table(tmp_path, "products", ["product_id", "pay_later"])
    assert some.column("pay_later").to_pylist() == [False]
    # a wrongly typed optional column is still refused, naming it
    pq.write_table(table.append_column("pay_later", pa.array(["yes"])), tmp_path / "products.parquet")
    with pytest.raises(ContractError, match="pay_later"):
        read_table(tmp_path, "products")


def test_an_optional_table_a_dataset_lacks_reads_empty(tmp_path: Path) -> None:
    from ranking.contracts import read_table
    from ranking.contracts.tables import CREATOR_TABLES

    for contract in CREATOR_TABLES:
        assert contract.optional
        assert read_table(tmp_path, contract.name).num_rows == 0
    assert read_table(tmp_path, "creators", ["creator_id"]).column_names == ["creator_id"]
    with pytest.raises(ContractError, match="missing"):
        read_table(tmp_path, "orders")
