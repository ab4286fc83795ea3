"""One function run on several threads at once, for the tests of what request threads share."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable


def run_at_once(target: Callable[..., object], args: Iterable[tuple]) -> None:
    """``target(*a)`` for each ``a`` of ``args``, each on its own thread, every thread started
    before any is joined. A thread's exception is not raised here: the tests collect what went
    wrong themselves and assert on it."""
    threads = [threading.Thread(target=target, args=a) for a in args]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
