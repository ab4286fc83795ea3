"""How many pages a worker ranks at once (``serving.page_threads``): the lifespan starts that many
page threads (never more than ``serving.max_in_flight``), they run at most that many pages at
once, and the pages beyond them start in the order they arrived."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ranking.settings import load_settings
from serving.app import create_app
from serving.page_route import PAGE_THREADS, PageThreads


def test_page_threads_run_at_most_their_count_at_once() -> None:
    threads = PageThreads(2, "pages-at-once")
    lock, running, most, done = threading.Lock(), [0], [0], threading.Semaphore(0)

    def job() -> None:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1
        done.release()

    try:
        for _ in range(8):
            threads.submit(job)
        for _ in range(8):
            assert done.acquire(timeout=10)
    finally:
        threads.shutdown(wait=True)
    assert most[0] == 2, most


def test_one_page_thread_runs_the_pages_in_arrival_order() -> None:
    threads, order, gate = PageThreads(1, "pages-in-order"), [], threading.Event()
    try:
        threads.submit(gate.wait)  # holds the one thread while the others queue
        for n in range(6):
            threads.submit(lambda n=n: order.append(n))
        gate.set()
    finally:
        threads.shutdown(wait=True)
    assert order == list(range(6))


@pytest.mark.parametrize(("page_threads", "max_in_flight", "expected"), [(2, 8, 2), (1, 8, 1), (6, 3, 3)])
def test_the_service_starts_the_page_threads_its_settings_ask_for(
        small_models: Path, tmp_path: Path, page_threads: int, max_in_flight: int, expected: int) -> None:
    settings = load_settings([f"serving.bundle={small_models / 'latest'}", f"serving.events_dir={tmp_path}",
                              f"serving.page_threads={page_threads}",
                              f"serving.max_in_flight={max_in_flight}"])
    app = create_app(settings, load=False)
    with TestClient(app) as client:
        assert getattr(app.state, PAGE_THREADS).count == expected
        names = {t.name for t in threading.enumerate() if t.name.startswith("shelfrank-page_")}
        assert len(names) >= expected
        assert client.get("/healthz").status_code == 200


def test_page_threads_must_be_at_least_one() -> None:
    with pytest.raises(ValueError, match="page_threads"):
        load_settings(["serving.page_threads=0"])
