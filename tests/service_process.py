"""Test helpers for a real service process (the implementation lives in shelfrank.local_service),
and a background load on it.

The services the tests start here drain for no time at SIGTERM (``serving.drain_seconds=0``,
unless a test sets it): the drain turns ``/readyz`` 503 for a load balancer the tests do not
have, and its default second was paid at every ``stop_service`` (twice with two workers).
A test of the drain itself sets the setting (tests/test_connection_limits.py)."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx2

from shelfrank import local_service
from shelfrank.local_service import free_port, stop_service

__all__ = ["Load", "background_load", "free_port", "start_service", "stop_service"]


TEST_DRAIN = "serving.drain_seconds=0"


def service_sets(extra: list[str] | None) -> list[str]:
    """``extra`` with no drain in front, unless ``extra`` sets ``serving.drain_seconds`` itself."""
    extra = list(extra or [])
    if any(s.startswith("serving.drain_seconds=") for s in extra):
        return extra
    return [TEST_DRAIN, *extra]


def start_service(models: Path, events: Path, workers: int = 1, extra: list[str] | None = None,
                  **kwargs) -> tuple[subprocess.Popen, str]:
    """``shelfrank.local_service.start_service`` with the tests' settings (:func:`service_sets`)."""
    return local_service.start_service(models, events, workers, service_sets(extra), **kwargs)


@dataclass
class Load:
    """What a background load saw: requests answered, and the status of each that failed."""

    served: int = 0
    failures: list[int] = field(default_factory=list)


@contextmanager
def background_load(url: str, path: str, body: dict, threads: int = 3, timeout: float = 30) -> Iterator[Load]:
    """``threads`` clients posting ``body`` to ``path`` back to back until the block ends."""
    load, done = Load(), threading.Event()

    def run() -> None:
        with httpx2.Client(base_url=url, timeout=timeout) as client:
            while not done.is_set():
                r = client.post(path, json=body)
                load.served += 1
                if r.status_code != 200:
                    load.failures.append(r.status_code)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for t in workers:
        t.start()
    try:
        yield load
    finally:
        done.set()
        for t in workers:
            t.join()
