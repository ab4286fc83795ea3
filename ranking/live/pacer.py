"""The live appliers' pacing: a background thread that applies a burst of the event log gives the
interpreter lock back between its steps, so a page waiting for it is not held up by a whole burst.

:class:`Pacer` is what the embedded backend's tail (:mod:`ranking.live.embedded`) and the Redis
backend's applier (:mod:`ranking.live.redis_backend`) call between a poll's steps; :func:`no_pause`
is the call of a poll that is not paced (a worker's start-up replay, the tests' direct polls).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ranking.settings import LiveSettings

_DEFAULTS = LiveSettings()
PAUSE_SECONDS = _DEFAULTS.apply_pause_min_ms / 1000  # the defaults of ``live.apply_pause_*``
PAUSE_RATIO = _DEFAULTS.apply_pause_ratio
PAUSE_BUDGET = _DEFAULTS.apply_pause_budget_ms / 1000


class Pacer:
    """The live tail's pauses between a poll's steps (see :meth:`EmbeddedLiveState.catch_up`).

    Each call sleeps ``ratio`` times the thread CPU spent since the last (at least
    :data:`PAUSE_SECONDS`: ``time.sleep(0)`` returns before a thread waiting for the GIL has woken
    and taken it), until ``budget`` seconds of pauses were spent since :meth:`start`. So a poll's
    ~10 ms burst of Python is spread over ~40 ms, a few pages each waiting ~1 ms for the GIL
    instead of one page waiting for all of it, while a long backlog still goes at full speed.
    ``clock`` and ``sleep`` are the thread's CPU clock and ``time.sleep`` (a test gives its own);
    ``shortest`` is :data:`PAUSE_SECONDS` unless given. :meth:`of` reads the three from settings.
    """

    def __init__(self, ratio: float = PAUSE_RATIO, budget: float = PAUSE_BUDGET,
                 clock: Callable[[], float] = time.thread_time, sleep: Callable[[float], None] = time.sleep,
                 shortest: float = PAUSE_SECONDS) -> None:
        self.ratio, self.budget, self.clock, self.sleep = ratio, budget, clock, sleep
        self.shortest = shortest
        self.left = budget
        self.mark = clock()

    @classmethod
    def of(cls, settings: LiveSettings) -> Pacer:
        """The pacer ``live.apply_pause_ratio``, ``_min_ms`` and ``_budget_ms`` describe."""
        return cls(settings.apply_pause_ratio, settings.apply_pause_budget_ms / 1000,
                   shortest=settings.apply_pause_min_ms / 1000)

    def start(self) -> Pacer:
        """A new poll: the whole budget again, the CPU counted from now."""
        self.left, self.mark = self.budget, self.clock()
        return self

    def __call__(self) -> None:
        wait = min(max(self.shortest, self.ratio * (self.clock() - self.mark)), self.left)
        if wait > 1e-6:  # (a spent budget, to the float's rounding)
            self.left -= wait
            self.sleep(wait)
        self.mark = self.clock()


def no_pause() -> None:
    return None
