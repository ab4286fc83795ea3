"""bench.micro_costs: the per-call costs the docstrings quote, each timed beside its numpy form."""

from __future__ import annotations

import json
import time
from pathlib import Path

from bench import micro_costs


def test_every_quoted_cost_is_timed_with_its_numpy_form(capsys, small_models: Path) -> None:
    # best of 3 repeats: the comparisons below hold against one pause of a loaded machine
    micro_costs.main(["--calls", "40", "--repeats", "3", "--bundle", str(small_models / "latest")])
    out = json.loads(capsys.readouterr().out)
    pairs = [("slot_of_us", "slot_index_us"), ("stable_top_us", "argsort_stable_us"),
             ("stable_top_20k_us", "argsort_stable_20k_us"), ("row_lookup_dense_us", "searchsorted_us"),
             ("row_lookup_dense_cold_us", "searchsorted_cold_us"), ("nan_to_us", "nan_to_num_us"),
             ("clip_ufuncs_us", "np_clip_us")]
    for ours, numpy_form in pairs:
        assert 0 < out[ours] < 10_000 and 0 < out[numpy_form] < 10_000
    assert out["leaf_rates_products"] > 0 and out["leaf_rates_ms"] > 0
    for call in ("get", "put", "first_put", "forget"):
        assert 0 < out[f"signals_cache_{call}_us"] < 100_000
    # the search response's JSON: its dropped list adds bytes and time
    assert out["search_json_dropped_bytes"] > 10_000
    assert out["search_json_us"] > out["search_json_without_dropped_us"] > 0
    # a bucket's first keep fills a new by-id array (ids below 1M): dearer than keeping into one
    assert out["signals_cache_first_put_us"] > out["signals_cache_put_us"]
    # the kept counters' memory: more with larger ids (the by-id array), each within reason
    small, large, largest = (out[f"signals_cache_bytes_a_product_ids_below_{n}"]
                             for n in (100_000, 1_000_000, 2_000_000))
    assert 150 < small < large < largest < 500  # 196, 268 and 348 when measured (docs/live.md)


def test_per_call_us_is_the_best_mean_of_its_repeats() -> None:
    calls = []
    micro_costs.per_call_us(lambda: calls.append(1), 10, 3, between=lambda: calls.append(0))
    assert calls == [0, 1] * 30  # between before each call, outside the timing
    slept = micro_costs.per_call_us(lambda: time.sleep(0.002), 5, 2)
    assert 2_000 <= slept < 50_000  # the loop's mean, in microseconds
    assert 2_000 <= micro_costs.per_call_us(lambda: time.sleep(0.002), 3, 2, between=lambda: None) < 50_000
