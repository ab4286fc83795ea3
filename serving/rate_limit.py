"""Token buckets: how much one client may write, and how often one address may guess a token.

:class:`RateLimiter` gives every key (a client's name) a bucket of ``burst`` tokens refilled
at ``rate`` per second; a write of ``cost`` events takes ``cost`` tokens or is refused with
the seconds until it would fit (the 429's ``Retry-After``). :class:`LoginThrottle` counts
wrong bearer tokens per remote address and locks the address out for a while after too
many. Both live in one worker's memory: with N workers a client may write up to N times
the rate, and an address may guess N times as often (docs/security.md). Both are bounded:
a full bucket or a forgotten failure is dropped, since it means the same as no entry.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

MAX_KEYS = 100_000  # entries kept before the ones that mean nothing (full, forgotten) are dropped


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Per-key token buckets; ``rate`` 0 means no limit."""

    def __init__(self, rate: float, burst: int, clock=time.monotonic) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key: str, cost: int) -> float:
        """Take ``cost`` tokens from ``key``'s bucket: 0.0 when taken, else the seconds to wait
        (nothing is taken then, so a refused batch costs the client nothing)."""
        if not self.rate:
            return 0.0
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(key) or _Bucket(self.burst, now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
            self._buckets[key] = bucket
            if bucket.tokens >= cost:
                bucket.tokens -= cost
                return 0.0
            wait = (min(cost, self.burst) - bucket.tokens) / self.rate
            if len(self._buckets) > MAX_KEYS:
                self._forget_full(now)
            return wait

    def _forget_full(self, now: float) -> None:
        for key in [k for k, b in self._buckets.items()
                    if b.tokens + (now - b.at) * self.rate >= self.burst]:
            del self._buckets[key]


@dataclass
class _Failures:
    count: int
    last: float
    locked_until: float = 0.0


class LoginThrottle:
    """Wrong tokens per remote address: after ``limit`` of them (each within ``lockout``
    seconds of the previous) the address is locked out for ``lockout`` seconds."""

    def __init__(self, limit: int, lockout: float, clock=time.monotonic) -> None:
        self.limit = limit
        self.lockout = lockout
        self.clock = clock
        self._seen: dict[str, _Failures] = {}
        self._lock = threading.Lock()

    def locked(self, address: str) -> float:
        """Seconds this address stays locked out; 0.0 when it may try."""
        now = self.clock()
        with self._lock:
            entry = self._seen.get(address)
            return max(0.0, entry.locked_until - now) if entry else 0.0

    def failed(self, address: str) -> float:
        """Count a wrong token; the lockout it starts (seconds), or 0.0."""
        now = self.clock()
        with self._lock:
            entry = self._seen.get(address)
            if entry is None or now - entry.last > self.lockout:
                entry = _Failures(0, now)
            entry.count += 1
            entry.last = now
            if entry.count >= self.limit:
                entry.locked_until = now + self.lockout
                entry.count = 0
            self._seen[address] = entry
            if len(self._seen) > MAX_KEYS:
                self._forget(now)
            return max(0.0, entry.locked_until - now)

    def succeeded(self, address: str) -> None:
        """A right token clears the address's failures."""
        with self._lock:
            self._seen.pop(address, None)

    def _forget(self, now: float) -> None:
        for key in [k for k, e in self._seen.items()
                    if now - e.last > self.lockout and now >= e.locked_until]:
            del self._seen[key]


def retry_after(seconds: float) -> dict[str, str]:
    """The ``Retry-After`` header for a wait (whole seconds, at least 1)."""
    return {"Retry-After": str(max(1, math.ceil(seconds)))}
