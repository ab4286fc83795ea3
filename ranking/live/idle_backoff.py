"""How long a follower waits before its next poll: ``live.poll_ms`` while changes come, longer
while none does.

The catalog and merchandising followers (:mod:`ranking.live.catalog_follower`,
:mod:`ranking.live.merch_follower`) polled ten times a second, and nearly every poll finds
nothing: an idle poll is a thread's wakeup and a look at the log's folders, ~100-165 us of CPU
each, 2.2-3.1 ms a second for the two (``python -m bench.idle_polls BUNDLE`` at load 6-9). With
the wait below they poll ~2.5 times a second; but a wakeup alone costs more than one beside
the others' (the live tail's idle poll ~120 -> ~200 us once the followers stopped waking with
it), so the three threads' sum fell by ~0.4-1.4 ms a second, not by the ~2 the polls saved. A
change accepted by a worker is applied by that worker at once (its route calls ``catch_up``
after the append), so the wait only bounds when the *other* workers see it: :class:`Backoff`
doubles the wait after each poll that found nothing, from ``live.poll_ms`` up to
``live.poll_ms`` x ``live.idle_poll_factor`` (400 ms by default: a change still reaches every
worker within that plus its apply, inside the 1 s of issues 26 and 28), and goes back to
``live.poll_ms`` as soon as a poll finds something (a burst of changes is followed closely) or
fails (retried as often as before). The live tail keeps its ``live.poll_ms``: a worker's own
events reach its state only through it (docs/live.md).
"""

from __future__ import annotations


class Backoff:
    """The wait before each poll, in seconds (see the module docstring)."""

    def __init__(self, busy_seconds: float, idle_seconds: float | None = None) -> None:
        self.busy = busy_seconds
        self.idle = max(busy_seconds, busy_seconds if idle_seconds is None else idle_seconds)
        self.wait = busy_seconds

    def after(self, found: bool) -> float:
        """The wait after a poll that found something (or failed: ``found`` True) or nothing."""
        self.wait = self.busy if found else min(self.idle, self.wait * 2)
        return self.wait
