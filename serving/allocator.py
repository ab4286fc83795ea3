"""The C allocator's settings for a long-lived worker that swaps whole bundles.

A bundle is hundreds of MB of numpy arrays. glibc's malloc serves a large block with its
own ``mmap`` (returned to the system at ``free``) only above its mmap threshold, and it
raises that threshold each time such a block is freed (up to 32 MB). So after a reload
frees the old bundle, the next bundle's arrays come from the heap arenas instead, and with
request threads spread over many arenas the freed space stays mapped as holes. Measured
with ``python -m bench.reload_memory`` (default bundle, 2 workers, wrk at 8 connections,
docs/reliability.md): without this, a worker went from 468 MB to 1,371-1,494 MB over 100
reloads (max 1,801 MB); with it, it stayed near 500 MB.

:func:`tune_allocator` fixes the threshold (``serving.malloc_mmap_threshold_kb``; a fixed
value also turns the dynamic raise off) and caps the arenas (``serving.malloc_arenas``);
:func:`release_free_memory` hands free heap pages back (``malloc_trim``) after a swap.
Both do nothing on a C library other than glibc, or when the setting is 0.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from functools import cache

log = logging.getLogger("shelfrank.serving")
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameters (malloc.h)
M_ARENA_MAX = -8


@cache
def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return libc if libc is not None and hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") \
            else None
    except OSError:
        return None


def tune_allocator(mmap_threshold_kb: int, arenas: int) -> bool:
    """Set glibc's mmap threshold and arena cap for this process; False when not glibc."""
    libc = _glibc()
    if libc is None:
        return False
    ok = True
    if mmap_threshold_kb > 0:
        ok &= libc.mallopt(M_MMAP_THRESHOLD, int(mmap_threshold_kb) * 1024) == 1
    if arenas > 0:
        ok &= libc.mallopt(M_ARENA_MAX, int(arenas)) == 1
    if not ok:
        log.warning("mallopt refused serving.malloc_mmap_threshold_kb=%s or serving.malloc_arenas=%s",
                    mmap_threshold_kb, arenas)
    return ok


def release_free_memory() -> None:
    """Give the heap's free pages back to the system (after a bundle is swapped out)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
