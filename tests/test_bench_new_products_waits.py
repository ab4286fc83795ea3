"""bench.bench_new_products' split of a search's wall: on a core, waiting for one, waiting for the lock."""

from __future__ import annotations

import threading
import time

import pytest

from bench.bench_new_products import _schedstat


def _spin(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_schedstat_counts_time_on_a_core_and_not_time_blocked_on_a_lock():
    run, _ = _schedstat()
    if run != run:  # NaN: no /proc/thread-self/schedstat here
        pytest.skip("no schedstat on this system")
    _spin(0.05)
    run_spun, queued_spun = _schedstat()
    assert run_spun - run >= 45  # ms: the spin was on a core
    lock = threading.Lock()
    lock.acquire()
    threading.Timer(0.1, lock.release).start()
    started = time.perf_counter()
    lock.acquire()  # blocked, neither on a core nor waiting for one
    blocked_ms = (time.perf_counter() - started) * 1000
    run_after, queued_after = _schedstat()
    on_or_queued = (run_after - run_spun) + (queued_after - queued_spun)
    assert blocked_ms >= 95 and blocked_ms - on_or_queued >= 80  # what the bench calls the lock wait
