"""A page's dropped entries kept as arrays (``ranking.pipeline.dropped``): they read as the same list
of dicts, in the same order, and their JSON is byte for byte orjson's of that list, over HTTP too."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import orjson
import pytest
from conftest import loaded_service_state

from ranking.pipeline import RankRequest
from ranking.pipeline.dropped import DroppedEntries
from serving.pages import page_response, serve_page
from serving.schemas import RankingResponse
from serving.state import ServiceState


def _entries() -> DroppedEntries:
    d = DroppedEntries()
    d.add(np.array([5, 7, 5], dtype=np.int64), "duplicate", "recall")
    d.add(np.array([], dtype=np.int64), "never", "empty")  # nothing removed: no part
    reasons = np.array(["", "banned", "out_of_stock"], dtype=object)[[1, 1, 2, 1, 2, 2]]
    d.add(np.array([1, 2, 3, 4, 6, 8], dtype=np.int64), reasons, "governance")
    d.add(np.array([11, -12, 13], dtype=np.int64), np.array(['filter:é"\\x\n', "filter:价格", "filter:价格"]),
          "request_filters")
    d.add(np.array([21, 22], dtype=np.int64), np.array([1.5, 2.0]), "odd")  # not strs: str() of each
    d.extend([{"product_id": 3, "reason": "rule_pin:r1:banned", "stage": "merchandising"}])
    return d


def _as_dicts() -> list[dict]:
    def of(ids, reasons, stage):
        return [{"product_id": p, "reason": r, "stage": stage} for p, r in zip(ids, reasons, strict=True)]
    return [*of([5, 7, 5], ["duplicate"] * 3, "recall"),
            *of([1, 2, 3, 4, 6, 8], ["banned", "banned", "out_of_stock", "banned", "out_of_stock",
                                     "out_of_stock"], "governance"),
            *of([11, -12, 13], ['filter:é"\\x\n', "filter:价格", "filter:价格"], "request_filters"),
            *of([21, 22], ["1.5", "2.0"], "odd"),
            {"product_id": 3, "reason": "rule_pin:r1:banned", "stage": "merchandising"}]


def test_the_entries_read_as_the_list_of_dicts_in_order() -> None:
    d, expected = _entries(), _as_dicts()
    assert list(d) == expected and d == expected and len(d) == len(expected)
    assert d[3] == expected[3] and d[-1] == expected[-1] and d[1:3] == expected[1:3]
    assert {"product_id": 4, "reason": "banned", "stage": "governance"} in d
    assert pickle.loads(pickle.dumps(d)) == d
    assert DroppedEntries() == [] and not DroppedEntries()


def test_the_json_is_orjson_of_the_dicts_byte_for_byte() -> None:
    d = _entries()
    assert d.json() == orjson.dumps(_as_dicts())
    assert DroppedEntries().json() == b"[]"
    one = DroppedEntries()
    one.add(np.arange(500, dtype=np.int64) * 7, np.full(500, "below_relevance_floor", dtype=object),
            "relevance_floor")
    assert one.json() == orjson.dumps(list(one))


def test_the_list_read_is_made_again_after_an_entry_is_added() -> None:
    d = DroppedEntries()
    d.add(np.array([1], dtype=np.int64), "banned", "governance")
    assert list(d) == [{"product_id": 1, "reason": "banned", "stage": "governance"}]
    d.add(np.array([2], dtype=np.int64), "ignored", "live_history")
    d.extend([{"product_id": 3, "reason": "rule_pin:p:beyond_page", "stage": "merchandising"}])
    assert [e["product_id"] for e in d] == [1, 2, 3] and len(d) == 3
    assert d.json() == orjson.dumps(list(d))


def test_the_report_reads_reasons_without_the_dicts() -> None:
    d = _entries()
    assert d.reasons_of("governance") == {"banned", "out_of_stock"}
    assert d.reasons_of("merchandising") == {"rule_pin:r1:banned"}
    assert d.reasons_of("nowhere") == set()
    # the first entry of each id wins (3 is out_of_stock in governance before its pin's entry)
    assert d.first_reasons({3, 5, 99}) == {3: "out_of_stock", 5: "duplicate"}
    big = DroppedEntries()  # a long part is searched with numpy, the short ones walked
    big.add(np.arange(100, 200, dtype=np.int64), "below_relevance_floor", "relevance_floor")
    big.add(np.array([7, 150], dtype=np.int64), np.array(["banned", "banned"], dtype=object), "governance")
    assert big.first_reasons({7, 150, 199, 5}) == {7: "banned", 150: "below_relevance_floor",
                                                    199: "below_relevance_floor"}


@pytest.fixture(scope="module")
def state(small_models: Path, tmp_path_factory: pytest.TempPathFactory):
    yield from loaded_service_state(small_models, tmp_path_factory)


def test_a_response_lists_the_dropped_in_the_pipelines_order(state: ServiceState) -> None:
    """A rerank's caller repeats first, then each filter's removals in the caller's order, in the
    response's bytes as in the engine's list (the order the dicts were listed in before)."""
    products = state.engine.snapshot.products
    banned = products.ids[products.columns["banned"] > 0][:2].tolist()
    sold_out = products.ids[products.columns["stock"] <= 0][:2].tolist()
    plain = products.ids[(products.columns["banned"] == 0) & (products.columns["stock"] > 0)][:6].tolist()
    assert len(banned) == 2 and len(sold_out) == 2
    candidates = [plain[0], 987654321, sold_out[0], plain[1], banned[0], plain[0], 987654322,
                  banned[1], sold_out[1], plain[1], *plain[2:]]
    request = RankRequest(surface="homepage", page_size=4, now_ms=state.engine.snapshot.as_of_ms, hour=12,
                          candidates=np.asarray(candidates), seed=7)
    served = serve_page(state, "rerank", request, None)
    RankingResponse.model_validate(served.body)  # the documented shape (the console's preview)
    sent = orjson.loads(page_response(state, served).body)["dropped"]
    assert sent == list(served.body["dropped"])
    out = dict.fromkeys([sold_out[0], sold_out[1]], "out_of_stock") | dict.fromkeys(banned, "banned")
    assert [(e["product_id"], e["reason"], e["stage"]) for e in sent] == [
        (plain[0], "duplicate", "recall"), (plain[1], "duplicate", "recall"),
        (987654321, "unknown_product", "known_products"), (987654322, "unknown_product", "known_products"),
        *[(p, out[p], "governance") for p in candidates if p in out]]


def test_a_search_response_writes_the_engines_entries(state: ServiceState) -> None:
    request = RankRequest(surface="search", page_size=10, now_ms=state.engine.snapshot.as_of_ms, hour=12,
                          query="oil", seed=5)
    served = serve_page(state, "search", request, None)
    assert any(e["stage"] == "relevance_floor" for e in served.body["dropped"])
    body = page_response(state, served).body
    assert body == orjson.dumps({**served.body, "dropped": list(served.body["dropped"])},
                                option=orjson.OPT_SERIALIZE_NUMPY)


def test_caller_duplicates_lists_every_repeat_in_the_callers_order() -> None:
    from ranking.pipeline.pipeline import caller_duplicates

    for candidates, repeats in (([4, 2, 9], []), ([], []), (None, []), ([4, 2, 4, 9, 2, 4], [4, 2, 4]),
                                ([7, 7], [7])):
        d = DroppedEntries()
        caller_duplicates(None if candidates is None else np.asarray(candidates), d)
        assert list(d) == [{"product_id": p, "reason": "duplicate", "stage": "recall"} for p in repeats]


def test_caller_duplicates_told_the_distinct_count_sorts_only_when_an_id_repeats(monkeypatch) -> None:
    from ranking.pipeline import pipeline

    sorted_lists = []
    real_sort = np.sort
    monkeypatch.setattr(pipeline.np, "sort", lambda a, *args, **kw: (sorted_lists.append(len(a)),
                                                                     real_sort(a, *args, **kw))[1])
    d = DroppedEntries()
    pipeline.caller_duplicates(np.asarray([4, 2, 9]), d, distinct=3)  # the union counted 3: none repeats
    assert list(d) == [] and sorted_lists == []
    pipeline.caller_duplicates(np.asarray([4, 2, 4, 9, 2, 4]), d, distinct=3)
    assert [e["product_id"] for e in d] == [4, 2, 4] and sorted_lists == [6]


def test_the_rerank_pipeline_tells_caller_duplicates_the_unions_count(state: ServiceState,
                                                                      monkeypatch) -> None:
    from ranking.pipeline import pipeline

    told, real = [], pipeline.caller_duplicates
    monkeypatch.setattr(pipeline, "caller_duplicates", lambda candidates, dropped, distinct=None: (
        told.append(distinct), real(candidates, dropped, distinct))[1])
    ids = state.engine.snapshot.products.ids
    for candidates, distinct in ((ids[:30], 30), (np.r_[ids[:20], ids[5:15]], 20)):
        request = RankRequest(surface="homepage", page_size=4, now_ms=state.engine.snapshot.as_of_ms, hour=12,
                              candidates=np.asarray(candidates), seed=7)
        served = serve_page(state, "rerank", request, None)
        repeats = [e["product_id"] for e in served.body["dropped"] if e["reason"] == "duplicate"]
        assert told[-1] == distinct and repeats == ids[5:15].tolist()[:len(candidates) - distinct]
    request = RankRequest(surface="search", page_size=4, now_ms=state.engine.snapshot.as_of_ms, hour=12,
                          query="oil", seed=5)
    serve_page(state, "search", request, None)
    assert told[-1] is None  # search's sources are not a caller's list: not told
