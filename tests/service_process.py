"""Test helpers for a real service process (the implementation lives in shelfrank.local_service),
and a background load on it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx2

from shelfrank.local_service import free_port, start_service, stop_service

__all__ = ["Load", "background_load", "free_port", "start_service", "stop_service"]


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
