"""A served page's parts without an app: experiment plan from the variant header,
interleaving of two arms, and the side effects (stage metrics, exposure line)."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from fastapi import HTTPException

from ranking.engine import RankedPage
from ranking.event_log import BufferedAppender, EventLog, read_event_log
from ranking.pipeline import RankRequest
from ranking.settings import Settings
from ranking.text import query_id
from serving import metrics
from serving.interleaving import interleave
from serving.pages import plan_for
from serving.routing import Arm, Plan, Router, forced_variants
from serving.side_effects import ServedPage, after_page, exposure_line

REQUEST = RankRequest(surface="search", page_size=4, now_ms=1_700_000_000_000, hour=9, user_id=3,
                      query="oil", seed=11)


class ArmEngine:
    """An arm's engine: a fixed page of (product id, text matched)."""

    def __init__(self, version: str, page: list[tuple[int, bool]]) -> None:
        self.version = version
        self.page = page

    def rank(self, pipeline, request, rules) -> RankedPage:
        cards = [{"product_id": p, "position": i + 1, "propensity": 1.0, "sources": ["x"]}
                 for i, (p, _) in enumerate(self.page)]
        return RankedPage(cards, [], {"recall": 0.5}, len(cards),
                          [m for _, m in self.page] if pipeline == "search" else None)


def test_the_variant_header_is_read_or_refused_at_the_header() -> None:
    assert forced_variants("theme=strong, tilt = off") == {"theme": "strong", "tilt": "off"}
    assert forced_variants(None) is None
    with pytest.raises(ValueError, match="must look like 'experiment=variant'"):
        forced_variants("theme")
    router = Router(ArmEngine("v1", []), Settings(), None, {})
    assert plan_for(router, REQUEST, None).interleave is None
    with pytest.raises(HTTPException) as err:  # no experiment runs: forcing one must not pass silently
        plan_for(router, REQUEST, "theme=strong")
    assert err.value.status_code == 422 and err.value.detail[0]["loc"] == ["header", "X-Shelfrank-Variant"]


def _plan(a: ArmEngine, b: ArmEngine) -> Plan:
    rules = Settings().rules
    return Plan([], Arm(a, rules, "A"), (Arm(a, rules, "A"), Arm(b, rules, "B")))


def test_an_interleaved_page_takes_each_cards_text_match_from_its_arm() -> None:
    a = ArmEngine("v1", [(1, False), (2, True)])
    b = ArmEngine("v2", [(3, False), (1, True)])
    page, version = interleave(_plan(a, b), "search", REQUEST)
    assert version == "v1+v2"
    assert [c["position"] for c in page.cards] == [1, 2, 3]
    by_id = {c["product_id"]: c for c in page.cards}
    assert set(by_id) == {1, 2, 3} and by_id[1]["shared"] and not by_id[3]["shared"]
    arm_said = {("A", 1): False, ("A", 2): True, ("B", 3): False, ("B", 1): True}
    assert page.text_matched == [arm_said[c["team"], c["product_id"]] for c in page.cards]
    assert page.timings == {"recall": 1.0}
    page, version = interleave(_plan(a, a), "homepage", REQUEST)
    assert version == "v1" and page.text_matched is None and page.text_match is None


def test_no_text_match_on_either_arm_is_false() -> None:
    a = ArmEngine("v1", [(1, False), (2, False)])
    page, _ = interleave(_plan(a, ArmEngine("v1", [(2, False)])), "search", REQUEST)
    assert page.text_match is False


def _served(cards: list[dict]) -> ServedPage:
    body = {"request_id": 11, "query_id": query_id("cooking oil"), "experiment": "none", "variant": "default",
            "bundle_version": "v1", "cards": cards}
    request = RankRequest(**{**REQUEST.__dict__, "query": "cooking oil"})
    return ServedPage("search", request, body, {"score": 0.002}, 1.23456, typed_query="cookign oil")


def test_the_exposure_line_names_the_typed_and_searched_query_and_the_cards() -> None:
    cards = [{"product_id": 5, "position": 1, "propensity": 1.0, "team": "A", "shared": False},
             {"product_id": 6, "position": 2, "propensity": 0.1}]
    line = exposure_line(_served(cards))
    assert line.endswith(b"\n")
    row = orjson.loads(line)
    assert (row["query"], row["typed_query"], row["typed_query_id"]) == \
        ("cooking oil", "cookign oil", query_id("cookign oil"))
    assert row["latency_ms"] == 1.235 and row["timestamp"] == REQUEST.now_ms
    assert row["cards"] == {"product_id": [5, 6], "position": [1, 2], "team": ["A", None],
                            "shared": [False, None], "propensity": [1.0, 0.1]}


def _stage_count() -> float:
    return metrics.STAGE_SECONDS.labels("search", "score")._sum.get()


def test_after_a_page_its_stages_are_timed_and_its_exposure_is_logged(tmp_path) -> None:
    log = EventLog(tmp_path)
    exposures = BufferedAppender(log, "exposures", every=3600)
    before = _stage_count()
    asyncio.run(after_page(_served([{"product_id": 5, "position": 1, "propensity": 1.0}]), exposures))
    asyncio.run(after_page(_served([]), exposures))  # an empty page logs no line
    asyncio.run(after_page(_served([{"product_id": 7, "position": 1, "propensity": 1.0}]), None))  # off
    assert _stage_count() == pytest.approx(before + 3 * 0.002)
    exposures.close()
    log.close()
    assert read_event_log(tmp_path).tables["exposures"].column("product_id").to_pylist() == [5]


def test_an_exposure_line_that_cannot_be_written_never_fails_the_page(tmp_path, caplog) -> None:
    class Broken:
        def add_line(self, line: bytes) -> None:
            raise OSError("disk gone")

    asyncio.run(after_page(_served([{"product_id": 5, "position": 1, "propensity": 1.0}]), Broken()))
    assert "could not log exposures for request 11" in caplog.text


def test_a_page_response_runs_after_page_as_its_background_task(tmp_path, monkeypatch) -> None:
    """``AfterPage`` is awaited by Starlette after the body is sent, with no ``inspect`` per page."""
    import inspect

    from starlette.background import BackgroundTask

    from serving.pages import AfterPage, page_response

    log = EventLog(tmp_path)
    exposures = BufferedAppender(log, "exposures", every=3600)
    settings = Settings()
    state = type("State", (), {"exposures": exposures, "settings": settings})()
    with monkeypatch.context() as patched:
        patched.setattr(inspect, "iscoroutinefunction", lambda f: pytest.fail("inspect asked per page"))
        response = page_response(state, _served([{"product_id": 9, "position": 1, "propensity": 1.0}]))
    assert isinstance(response.background, AfterPage) and isinstance(response.background, BackgroundTask)
    before = _stage_count()
    asyncio.run(response.background())
    assert _stage_count() == pytest.approx(before + 0.002)
    exposures.close()
    log.close()
    assert read_event_log(tmp_path).tables["exposures"].column("product_id").to_pylist() == [9]
