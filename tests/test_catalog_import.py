"""merge-events folds the catalog change log (training/data/catalog_import.py): the merged products
and stores are the latest state, new products and stores are appended, a store ban bans its
products, and product_changes keeps each change of each product with its time."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ranking.catalog_changes import BANS, PRODUCT_CHANGES, STORE_CHANGES
from ranking.contracts import read_table
from ranking.contracts.io import validate_dataset
from ranking.event_log import EventLog


def test_merge_events_folds_catalog_changes_into_products_and_a_history(small_mall: Path, tmp_path: Path
                                                                        ) -> None:
    from training.data.event_import import merge_events

    products = read_table(small_mall, "products").to_pandas().set_index("product_id")
    first, second = products.index[:2].tolist()
    store = int(products.store_id.iloc[-1])
    of_store = products.index[products.store_id == store].tolist()
    clicks = read_table(small_mall, "clicks").to_pandas().head(1)
    click = {k: (int(v.timestamp() * 1000) if isinstance(v, pd.Timestamp) else v)
             for k, v in clicks.iloc[0].to_dict().items()}
    log = EventLog(tmp_path / "events")
    log.append({"clicks": [click]})
    new = {**{k: v for k, v in products.iloc[0].to_dict().items() if k not in ("listed_at",)},
           "product_id": 99_999_999, "store_id": 9001, "title": "新品", "changed_ms": 1_790_000_000_000}
    new = {k: (v.item() if hasattr(v, "item") else v) for k, v in new.items()}
    log.append({STORE_CHANGES: [{"store_id": 9001, "name": "新店", "opened_at": 1_789_000_000_000,
                                 "region": "江苏", "changed_ms": 1_789_000_000_000}]})
    log.append({PRODUCT_CHANGES: [{"product_id": first, "price": 1.25, "changed_ms": 1_790_000_000_001},
                                  {"product_id": first, "price": 2.5, "stock": 0,
                                   "changed_ms": 1_790_000_000_002},
                                  {**new, "banned": False, "listed_at": 1_790_000_000_000}]})
    log.append({BANS: [{"product_ids": [second], "store_ids": [store], "reason": "fake", "unban": False,
                        "changed_ms": 1_790_000_000_003}]})
    summary = merge_events(small_mall, tmp_path / "events", tmp_path / "merged")
    assert summary.catalog["changes"] == 5 and summary.catalog["products_added"] == 1

    merged = read_table(tmp_path / "merged", "products").to_pandas().set_index("product_id")
    assert merged.loc[first, "price"] == 2.5 and merged.loc[first, "stock"] == 0
    assert merged.loc[second, "banned"] and merged.loc[of_store, "banned"].all()
    assert merged.loc[99_999_999, "title"] == "新品" and merged.loc[99_999_999, "store_id"] == 9001
    untouched = products.index[~products.index.isin([first, second, *of_store])]
    pd.testing.assert_frame_equal(merged.loc[untouched], products.loc[untouched], check_dtype=False)
    assert 9001 in set(read_table(tmp_path / "merged", "stores").column("store_id").to_pylist())

    history = pd.read_parquet(tmp_path / "merged" / "product_changes.parquet")
    of_first = history[history.product_id == first].sort_values("changed_at")
    assert of_first.price.tolist() == [1.25, 2.5]
    assert of_first.changed_at.iloc[0] == pd.Timestamp(1_790_000_000_001, unit="ms", tz="UTC")
    assert set(history[history.kind == "store_ban"].product_id) == set(of_store)
    assert history[history.product_id == second].kind.tolist() == ["ban"]
    errors = validate_dataset(tmp_path / "merged")
    assert not [e for e in errors if "products" in e or "stores" in e], errors
