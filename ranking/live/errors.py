"""The one exception of the live state's backends: a backend that cannot be opened, failed or
timed out raises :class:`LiveBackendError`, and the service then ranks from the bundle's frozen
state (with a metric and a log line), never answering a 5xx for it."""

from __future__ import annotations


class LiveBackendError(RuntimeError):
    """The live-state backend cannot be opened, failed or timed out; the caller degrades to the
    frozen state."""
