"""The speed benchmark's set-up (bench/speed.py) is valid: its book of 1,000 rules and its synonym
sets (the first 1,000 of its 10,000) import into the real app and are in force, its search
bodies are accepted, and its mixed wrk script posts the three pages in turn; with ``--distinct N``
every body is a shopper (and a query) of its own, drawn by ``request_payloads``."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import bench.speed
from bench.bench_serving import request_payloads
from bench.speed import (
    PAGES,
    RULES,
    arguments,
    distinct_bodies,
    mixed_script,
    payload_case,
    warm,
    workload,
)
from ranking.settings import load_settings
from serving.app import create_app

OPERATOR = {"Authorization": "Bearer s3cret"}
SETS = 1_000  # of the 10,000: importing all of them only takes longer


def test_the_benchmark_book_imports_whole_and_its_requests_are_served(small_models: Path, tmp_path: Path):
    bundle = (small_models / "latest").resolve()
    book, bodies = workload(bundle, synonyms=SETS)  # the same sets as the benchmark's first SETS
    assert len(book["rules"]) == RULES and len(book["synonyms"]) == SETS
    settings = load_settings([f"serving.bundle={bundle}", f"serving.events_dir={tmp_path / 'events'}",
                              "serving.admin_token=s3cret", "live.backend=embedded"])
    with TestClient(create_app(settings)) as client:
        r = client.post("/v1/merchandising/import?mode=replace", json=book, headers=OPERATOR)
        assert r.status_code == 200, r.text[:500]
        assert r.json()["rules"] == RULES and r.json()["synonyms"] == SETS
        for page in ("search", "homepage", "rerank"):
            for body in bodies[page][:5]:
                r = client.post(PAGES[page], json=body)
                assert r.status_code == 200, (page, body, r.text[:300])
        applied = [client.post("/v1/search", json=b).json()["rules_applied"] for b in bodies["search"][:40]]
        assert any(applied), "the benchmark's searches meet the rules they are meant to exercise"
        assert warm(client, {p: bodies[p][:3] for p in PAGES}) == 9  # the no-op is not warmed
    script = mixed_script(bodies, tmp_path).read_text()
    assert all(f'"{PAGES[p]}"' in script for p in ("search", "homepage", "rerank"))


def test_distinct_bodies_give_every_request_its_own_shopper_and_query(small_models: Path) -> None:
    bundle = (small_models / "latest").resolve()
    n = 12
    bodies = distinct_bodies(bundle, n)
    assert {page: len(b) for page, b in bodies.items()} == dict.fromkeys(PAGES, n)
    assert bodies["noop"] is bodies["rerank"]
    shoppers = [b["user_id"] for page in ("search", "homepage", "rerank") for b in bodies[page]]
    assert len(set(shoppers)) == 3 * n  # no shopper twice, on one page or across pages
    assert len({b["query"] for b in bodies["search"]}) == n
    drawn = request_payloads(bundle, count=4 * n)  # the same drawing, not a copy of it
    for page in ("search", "homepage", "rerank"):
        assert all(b in drawn[page] for b in bodies[page])


def _drawing(users: list[int], queries: list[str]):
    def drawn(bundle, count: int = 50) -> dict[str, list[dict]]:
        rows = [(users[i % len(users)], queries[i % len(queries)]) for i in range(count)]
        return {"search": [{"query": q, "user_id": u, "page_size": 20} for u, q in rows],
                "homepage": [{"user_id": u, "page_size": 20} for u, _ in rows],
                "rerank": [{"user_id": u, "candidates": [1, 2]} for u, _ in rows]}
    return drawn


def test_repeated_shoppers_or_queries_are_skipped_and_too_few_refused(monkeypatch) -> None:
    queries = ["a b", "c d", "a b", "e f"]
    monkeypatch.setattr(bench.speed, "request_payloads", _drawing(list(range(100)), queries))
    bodies = distinct_bodies(Path("x"), 1)  # queries repeat every two draws: draws 0, 1 and 3 kept
    assert [b["query"] for b in bodies["search"]] == ["a b"]
    assert [b["user_id"] for page in ("search", "homepage", "rerank") for b in bodies[page]] == [0, 1, 3]
    few = _drawing([1, 2, 3, 4, 5], [str(i) for i in range(99)])
    monkeypatch.setattr(bench.speed, "request_payloads", few)
    with pytest.raises(ValueError, match="only 5 distinct shoppers"):
        distinct_bodies(Path("x"), 2)


def test_the_mixed_script_of_distinct_bodies_begins_after_the_warm_up(tmp_path: Path) -> None:
    bodies = {p: [{"user_id": i, "page": p} for i in range(4)] for p in PAGES}
    script = mixed_script(bodies, tmp_path, rounds=4, start=5, name="measured").read_text()
    assert script.count('"/v1/search"') == 4 and "\ni = 5\n" in script
    assert (tmp_path / "measured.lua").exists()
    assert "\ni = 0\n" in mixed_script(bodies, tmp_path, rounds=4, start=12).read_text()  # wrapped


def test_the_case_is_chosen_by_flag_or_environment_and_recorded(monkeypatch) -> None:
    assert arguments(["b"]).distinct == 0 and arguments(["b", "--distinct", "900"]).distinct == 900
    assert payload_case(0) == {"payloads": "repeating", "payloads_per_page": 50}
    assert payload_case(900) == {"payloads": "distinct", "payloads_per_page": 900}
    monkeypatch.setenv("SHELFRANK_BENCH_DISTINCT", "700")
    try:
        assert importlib.reload(bench.speed).arguments(["b"]).distinct == 700
    finally:
        monkeypatch.delenv("SHELFRANK_BENCH_DISTINCT")
        importlib.reload(bench.speed)


def test_first_visits_runs_the_one_worker_pages_with_new_shoppers_prefixed(monkeypatch, tmp_path):
    calls = []

    def fake_run(bundle, out_dir, two=True, distinct=0, goals=None):
        calls.append((bundle, out_dir, two, distinct, goals))
        return {"bundle": "b", "rules": 1000, "synonym_sets": 10, "payloads": "distinct",
                "search_p99_ms": 9.0}

    monkeypatch.setattr(bench.speed, "run", fake_run)
    got = bench.speed.first_visits(Path("B"), tmp_path, goals={"search": 10.0})
    assert calls == [(Path("B"), tmp_path, False, bench.speed.FIRST_VISITS, {"search": 10.0})]
    assert got == {"first_visit_payloads": "distinct", "first_visit_search_p99_ms": 9.0}


def test_the_workload_is_drawn_without_an_engine_in_the_callers_process(small_models: Path, monkeypatch):
    """``bench.request_components --app`` draws it in the measured app's process: an engine loaded
    there left its entries first in the per-table memos every page reads."""
    from ranking.engine import Engine

    bundle = (small_models / "latest").resolve()

    def refused(*args, **kwargs):
        raise AssertionError("an engine loaded in the caller's process")

    with monkeypatch.context() as patched:
        patched.setattr(Engine, "load", refused)
        drawn = workload(bundle, synonyms=50)
    assert drawn == bench.speed.drawn_workload(bundle, synonyms=50), \
        "the same book and bodies in every process (ties among frequent words broken by the word)"


@pytest.mark.parametrize("backend", ["embedded", "redis"])
def test_the_two_worker_run_serves_the_live_state_on_the_backend_asked(monkeypatch, tmp_path, backend):
    from contextlib import contextmanager

    import bench.bench_live_state

    started, servers = [], []

    @contextmanager
    def fake_redis():
        servers.append("started")
        yield "redis://127.0.0.1:1/0"
        servers.append("stopped")

    monkeypatch.setattr(bench.bench_live_state, "private_redis", fake_redis)
    monkeypatch.setattr(bench.speed, "start_service",
                        lambda *a, **k: started.append(k["extra"]) or ("p", "u"))
    monkeypatch.setattr(bench.speed, "_mixed", lambda proc, url, *a: {"served": (proc, url, servers[:])})
    got = bench.speed.two_workers(Path("B/latest"), {}, {}, tmp_path, 0, backend)
    assert f"live.backend={backend}" in started[0]
    if backend == "redis":
        assert "live.redis_url=redis://127.0.0.1:1/0" in started[0]
        assert got == {"served": ("p", "u", ["started"])} and servers == ["started", "stopped"]
    else:
        assert not any(s.startswith("live.redis") for s in started[0]) and servers == []
    assert arguments(["b", "--two-workers-only", "--backend", "redis"]).backend == "redis"
    assert arguments(["b"]).backend == "embedded"


class _Answer:
    def __init__(self, status: int) -> None:
        self.status_code, self.text = status, "refused"


def test_a_warm_up_answer_other_than_200_stops_the_run() -> None:
    class Refusing:
        def post(self, path, json):
            return _Answer(422 if json["user_id"] == 2 else 200)

    bodies = {p: [{"user_id": i} for i in range(3)] for p in PAGES}
    with pytest.raises(RuntimeError, match="warming search: 422"):
        warm(Refusing(), bodies)


@pytest.mark.parametrize("distinct", [0, 40])
def test_the_repeating_one_worker_run_is_warmed_before_any_page_is_measured(monkeypatch, tmp_path, distinct):
    """Every body of every ranking page is posted once before the first measured run, and not at
    all when the bodies are distinct (each is to be measured as a first visit)."""
    events = []

    class Client:
        def __init__(self, base_url, timeout):
            events.append(("client", base_url))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def post(self, path, json):
            events.append(("warm", path, json["user_id"]))
            return _Answer(200)

    def driven(pid, url, script, connections, threads=False):
        stops = "wrk.thread:stop()" in script.read_text()
        events.append(("measure", script.name, stops))
        # a stopping script answers its three bodies (search's ran out of time after two: wrk's rate)
        requests = (2 if script.name.startswith("v1_search") else 3) if stops else 10
        return {"p50_ms": 1.0, "p99_ms": 2.0, "mean_ms": 1.25, "cpu_ms_per_request": 1.0, "thread_cpu_ms": {},
                "rps": 1.0, "statuses": {}, "requests": requests}

    class Proc:
        pid = 1

    bodies = {p: [{"user_id": i, "candidates": [1, 2]} for i in range(3)] for p in PAGES}
    monkeypatch.setattr(bench.speed.httpx2, "Client", Client)
    monkeypatch.setattr(bench.speed, "start_service", lambda *a, **k: (Proc(), "http://u"))
    monkeypatch.setattr(bench.speed, "stop_service", lambda proc: None)
    monkeypatch.setattr(bench.speed, "prepare", lambda *a: events.append(("prepare",)) or {})
    monkeypatch.setattr(bench.speed, "driven", driven)
    monkeypatch.setattr(bench.speed, "flame", lambda *a: "drawn")
    out = bench.speed.one_worker(Path("B/latest"), {}, bodies, tmp_path, tmp_path, distinct)
    warmed = [e for e in events if e[0] == "warm"]
    first_measured = next(i for i, e in enumerate(events) if e[0] == "measure")
    stops = {e[1]: e[2] for e in events if e[0] == "measure"}
    if distinct:
        assert not warmed and "warm_up_requests" not in out
        # each distinct body posted once: the ranking pages' scripts stop at their last body, and
        # their rate is read from the mean latency (the stopped run's wrk rate counts idle time)
        assert stops == {"v1_search-once.lua": True, "v1_homepage-once.lua": True, "v1_rerank-once.lua": True,
                         "v1_noop.lua": False}
        assert out["homepage_rps_c1"] == out["rerank_rps_c1"] == 800.0 and out["noop_rps_c1"] == 1.0
        assert out["search_rps_c1"] == 1.0, "a run that never reached its last body keeps wrk's rate"
        return
    assert not any(stops.values()) and out["search_rps_c1"] == 1.0
    assert warmed == [("warm", PAGES[p], i) for p in ("search", "homepage", "rerank") for i in range(3)]
    assert events.index(("prepare",)) < events.index(warmed[0]), "warmed after the book and the clicks"
    assert all(e[0] != "warm" for e in events[first_measured:]), "warmed before the first measured run"
    assert out["warm_up_requests"] == 9 and ("client", "http://u") in events


def test_the_one_worker_pages_are_judged_against_the_goals_given(monkeypatch, tmp_path) -> None:
    """The default mall's 5 ms for each ranking page, or only the pages and goals asked (the 1M
    run's search at 10 ms), at the goal exactly included."""
    def driven(pid, url, script, connections, threads=False):
        p99 = {"v1_search": 10.0, "v1_homepage": 6.0}.get(script.name.split(".")[0], 4.0)
        return {"p50_ms": 1.0, "p99_ms": p99, "mean_ms": 1.0, "cpu_ms_per_request": 1.0, "thread_cpu_ms": {},
                "rps": 1.0, "statuses": {}, "requests": 10}

    class Proc:
        pid = 1

    bodies = {p: [{"user_id": i, "candidates": [1, 2]} for i in range(3)] for p in PAGES}
    monkeypatch.setattr(bench.speed, "start_service", lambda *a, **k: (Proc(), "http://u"))
    monkeypatch.setattr(bench.speed, "stop_service", lambda proc: None)
    monkeypatch.setattr(bench.speed, "prepare", lambda *a: {})
    monkeypatch.setattr(bench.speed, "warm", lambda client, bodies: 0)
    monkeypatch.setattr(bench.speed, "driven", driven)
    monkeypatch.setattr(bench.speed, "flame", lambda *a: "drawn")
    default = bench.speed.one_worker(Path("B/latest"), {}, bodies, tmp_path, tmp_path)
    assert [default[f"{p}_p99_goal_met"] for p in ("search", "homepage", "rerank")] == [False, False, True]
    large = bench.speed.one_worker(Path("B/latest"), {}, bodies, tmp_path, tmp_path, goals={"search": 10.0})
    assert large["search_p99_goal_met"] is True and large["search_p99_goal_ms"] == 10.0
    assert "homepage_p99_goal_met" not in large and "rerank_p99_goal_met" not in large
