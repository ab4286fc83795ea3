"""The Redis connection of the live state, and the one error a failing backend raises.

:func:`connect` opens a pooled redis-py client from settings ``live.redis_*``: short socket
and connect timeouts, no retry inside a call (a request must not wait on a dead server), at
most ``redis_pool_size`` connections. :func:`guarded` turns every failure of a call (refused,
reset, timed out, a full server refusing writes under ``maxmemory``) into
:class:`LiveBackendError`, the one exception the service catches to rank from the bundle's
frozen state instead. redis-py is imported here only, when the Redis backend is chosen.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ranking.live.errors import LiveBackendError
from ranking.settings import LiveSettings

if TYPE_CHECKING:
    import redis


def connect(settings: LiveSettings) -> redis.Redis:
    """A pooled client of ``live.redis_url`` that fails fast (no retries, short timeouts)."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(
        settings.redis_url, socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_connect_timeout_seconds,
        max_connections=settings.redis_pool_size, retry=Retry(NoBackoff(), 0), health_check_interval=0)


@contextmanager
def guarded(url: str) -> Iterator[None]:
    """Run Redis calls; any Redis failure leaves as :class:`LiveBackendError` naming the server."""
    import redis

    try:
        yield
    except redis.RedisError as exc:
        raise LiveBackendError(f"live state backend {redacted(url)} failed: "
                               f"{type(exc).__name__}: {exc}") from exc


def redacted(url: str) -> str:
    """The url without its password (it goes into logs and error messages)."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rpartition('@')[2]}"
