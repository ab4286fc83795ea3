"""bench.catalog_change: live catalog changes applied through the follower, timed, and the first pages
after each timed and checked for what they built."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import catalog_change


@pytest.mark.parametrize("kind", ["price", "store_ban"])
def test_each_change_is_applied_swapped_and_followed_by_one_page_per_pipeline(small_models: Path, kind: str,
                                                                               capsys) -> None:
    catalog_change.main([str(small_models / "latest"), "--changes", "2", "--kind", kind])
    out = json.loads(capsys.readouterr().out)
    assert out["kind"] == kind and out["changes"] == 2 and out["swapped"] == 2
    assert 0 < out["follower_cpu_ms"]["median"] <= out["follower_cpu_ms"]["max"] < 5_000
    assert {"search", "homepage", "rerank"} <= set(out["pages"])
    for page in out["pages"].values():
        for figure in ("repeat_cpu_ms", "first_after_cpu_ms"):
            assert 0 < page[figure]["median"] <= page[figure]["max"] < 5_000
        assert page["built_after"] == 0, page["built"]  # built before the swap (a store's first ban too)
    assert out["follower_built"], "the follower builds what the change invalidates before the swap"


def test_the_changes_touch_distinct_products_the_pages_show_and_distinct_stores_for_store_bans() -> None:
    class View:
        def store_of(self, product_id: int) -> int:
            return product_id // 10

    class State:
        engine = None
        catalog = type("Follower", (), {"view": lambda self, engine: View()})()

    shown = {"search": {"ids": [11, 12, 31]}, "homepage": {"ids": [12, 45, 46, 51]}}
    assert catalog_change.targets(State(), shown, "price", 4) == [11, 12, 31, 45]
    assert catalog_change.targets(State(), shown, "store_ban", 4) == [11, 31, 45, 51]
    with pytest.raises(SystemExit):
        catalog_change.targets(State(), shown, "store_ban", 5)
