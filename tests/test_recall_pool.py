"""The recall stage's fan-out: sources that cost less than a pool hop run on the request's thread."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ranking.pipeline.candidates import RankRequest
from ranking.pipeline.pipeline import Pipeline
from ranking.settings import RulesSettings


class Listed:
    def __init__(self, name: str, ids: list[int], pooled: bool | None) -> None:
        self.name, self.ids, self.threads = name, np.asarray(ids, np.int64), []
        if pooled is not None:
            self.pooled = pooled

    def recall(self, request: RankRequest, k: int) -> tuple[np.ndarray, np.ndarray]:
        self.threads.append(threading.current_thread().name)
        return self.ids[:k], -np.arange(len(self.ids[:k]), dtype=np.float64)


def _pipeline(sources, executor) -> Pipeline:
    model = type("M", (), {"score_is_log_odds": True})()
    return Pipeline("p", sources, None, model, RulesSettings(), recall_k=3, executor=executor)


def test_cheap_sources_run_on_the_requests_thread_and_the_union_keeps_the_sources_order() -> None:
    request = RankRequest(surface="homepage", page_size=5, now_ms=0, hour=9)
    lists = [("a", [1, 2, 3, 4], False), ("b", [3, 5], True), ("c", [6, 1], False), ("d", [7, 5, 8], True)]
    with ThreadPoolExecutor(2, thread_name_prefix="pool") as pool:
        pooled = [Listed(n, ids, p) for n, ids, p in lists]
        got = _pipeline(pooled, pool)._recall(request)[0]
        serial = _pipeline([Listed(n, ids, p) for n, ids, p in lists], None)._recall(request)[0]
        here = threading.current_thread().name
        # the costly sources but the last hop to the pool; this thread runs the cheap ones and that last
        assert [s.threads for s in pooled if s.name != "b"] == [[here], [here], [here]]
        assert pooled[1].threads[0].startswith("pool")
        # no cheap source (search): the last source runs here, the others in the pool
        plain = [Listed("x", [1], None), Listed("y", [2], None)]
        _pipeline(plain, pool)._recall(request)
        assert plain[0].threads[0].startswith("pool") and plain[1].threads == [here]
    assert got.product_ids.tolist() == serial.product_ids.tolist() == [1, 2, 3, 5, 6, 7, 8]
    assert got.sources == serial.sources


def test_a_lone_costly_source_takes_no_hop() -> None:
    # with one costly source there is nothing to overlap it: nothing hops
    request = RankRequest(surface="search", page_size=5, now_ms=0, hour=9, query="q")

    class NoPool:
        def submit(self, *args, **kwargs):
            raise AssertionError("a source was sent to the recall pool")

    lone = [Listed("a", [1], False), Listed("b", [2], True)]
    assert _pipeline(lone, NoPool())._recall(request)[0].product_ids.tolist() == [1, 2]
    with ThreadPoolExecutor(1, thread_name_prefix="pool") as pool:
        both = [Listed("lexical", [1, 2], None), Listed("dense", [2, 3], None)]
        assert _pipeline(both, pool)._recall(request)[0].product_ids.tolist() == [1, 2, 3]
        assert both[0].threads[0].startswith("pool")


def test_search_sources_run_on_the_requests_thread_for_a_first_time_query() -> None:
    # their lexical scoring holds the interpreter lock: pooled, it overlapped little with the dense
    # scan and cost more CPU (SearchSource's docstring)
    from ranking.recall.bundle_part import DENSE, LEXICAL, SearchSource
    from ranking.recall.search import SearchRecall

    class NoPool:
        def submit(self, *args, **kwargs):
            raise AssertionError("a source was sent to the recall pool")

    texts = ["red cotton shirt", "blue denim jeans", "red wool scarf", "green cotton socks"]
    search = SearchRecall.from_texts(texts, np.arange(1, 5), dim=2)
    sources = [SearchSource(LEXICAL, search), SearchSource(DENSE, search)]
    request = RankRequest(surface="search", page_size=5, now_ms=0, hour=9, query="red cotton")
    got = _pipeline(sources, NoPool())._recall(request)[0]
    assert set(got.product_ids.tolist()) >= {1, 3}


def test_every_homepage_source_runs_on_the_requests_thread() -> None:
    # personal's pooled FAISS scan cost more CPU than it overlapped (GIL hand-offs, docs/speed.md)
    from homepage_mall import tiny_recall

    from ranking.recall.bundle_part import HomepageSource
    from ranking.recall.homepage import SOURCES

    recall = tiny_recall()
    sources = [HomepageSource(name, recall) for name in SOURCES]
    assert not [s.name for s in sources if s.pooled]

    class NoPool:
        def submit(self, *args, **kwargs):
            raise AssertionError("a homepage source was sent to the recall pool")

    request = RankRequest(surface="homepage", page_size=5, now_ms=0, hour=9, user_id=107)
    got = _pipeline(sources, NoPool())._recall(request)[0]
    assert got.product_ids.tolist() == _pipeline(sources, None)._recall(request)[0].product_ids.tolist()
    assert len(got)


def test_a_category_pages_homepage_sources_stay_on_the_requests_thread() -> None:
    # InCategory wraps a homepage source: as cheap as it, so a category page's ten do not hop
    from homepage_mall import tiny_recall

    from ranking.recall.bundle_part import HomepageSource
    from ranking.recall.category_browse import InCategory
    from ranking.recall.homepage import SOURCES

    recall = tiny_recall()
    wrapped = [InCategory(HomepageSource(name, recall), None) for name in SOURCES]
    assert not [s.name for s in wrapped if s.pooled]
    assert InCategory(Listed("x", [1], None), None).pooled
    assert not InCategory(Listed("y", [1], False), None).pooled
