"""The service's CPU per request, thread by thread, over HTTP (``bench.speed``'s
``<page>_thread_cpu_ms``).

``bench.speed`` gives a page's whole service CPU; this splits it by what each thread does:
the page threads (``shelfrank-page``: the engine, the checks, the JSON), the event loop
(``MainThread``: HTTP parsing, middleware, body validation, the side effects), the recall pool,
the live tail, the followers (catalog, merchandising), the exposure flushers and anything else.
A split that shows most of a page on the page thread says the engine is the cost; one with the
live tail or a follower large says background work steals the page's core.

Threads are read with psutil (CPU seconds per OS thread of the service and its workers) and
named from ``py-spy dump`` (which prints each Python thread's OS id and name); without py-spy,
or where it may not attach, every thread is ``unnamed``. A thread that ended during the run is
not listed by the OS afterwards: its seconds are ``gone`` (the process's total minus the
listed threads'). :func:`own_threads` reads this process's own threads instead (in-process benches).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

# the Python thread names the service gives its threads, by what they do (first match wins)
ROLES = (("shelfrank-page", "pages"), ("MainThread", "event_loop"), ("recall_", "recall_pool"),
         ("live-tail", "live_tail"), ("follower", "followers"), ("flush-exposures", "exposure_flush"),
         ("AnyIO worker", "anyio_pool"))
_THREAD = re.compile(r'^Thread (\d+) \(\w+\): "([^"]*)"', re.MULTILINE)


def own_threads() -> dict[int, tuple[str, float]]:
    """This process's running threads: ident -> (name without a trailing number, CPU seconds so far)."""
    out: dict[int, tuple[str, float]] = {}
    for thread in threading.enumerate():
        if thread.ident is None:
            continue
        try:
            clock = time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
        except (OSError, ValueError):  # the thread ended between the listing and the read
            continue
        out[thread.ident] = (thread.name.rstrip("0123456789_ ") or thread.name, clock)
    return out


def _processes(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def thread_seconds(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) so far of every OS thread of ``pid`` and its children, and
    under key 0 the processes' own totals (which include threads that have ended)."""
    out: dict[int, float] = {0: 0.0}
    for proc in _processes(pid):
        try:
            times, threads = proc.cpu_times(), proc.threads()
        except psutil.NoSuchProcess:
            continue
        out[0] += times.user + times.system
        out.update({t.id: t.user_time + t.system_time for t in threads})
    return out


def py_spy() -> str | None:
    """The py-spy executable (on PATH or beside this interpreter), or None."""
    return shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))


def thread_names(pid: int) -> dict[int, str]:
    """OS thread id -> Python thread name for ``pid`` and its children (empty without py-spy)."""
    spy = py_spy()
    if spy is None:
        return {}
    names: dict[int, str] = {}
    for proc in _processes(pid):
        try:
            dump = subprocess.run([spy, "dump", "--pid", str(proc.pid)], capture_output=True, text=True,
                                  timeout=60).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        names.update({int(tid): name for tid, name in _THREAD.findall(dump)})
    return names


def role(name: str | None) -> str:
    """What a thread does, from its Python name (``unnamed`` when py-spy gave none)."""
    if name is None:
        return "unnamed"
    return next((r for prefix, r in ROLES if prefix in name), "other")


def by_role(before: dict[int, float], after: dict[int, float], names: dict[int, str],
            requests: int) -> dict[str, float]:
    """CPU ms per request of each role between two :func:`thread_seconds` readings, the total
    (``all``) and what ended threads spent (``gone``); ms below 0.001 are left out."""
    n = max(requests, 1)
    out: dict[str, float] = {}
    listed = 0.0
    for tid, seconds in after.items():
        if tid == 0:
            continue
        spent = seconds - before.get(tid, 0.0)
        listed += spent
        key = role(names.get(tid))
        out[key] = out.get(key, 0.0) + spent
    total = after[0] - before.get(0, 0.0)
    out["gone"] = max(total - listed, 0.0)
    out["all"] = total
    return {k: round(v * 1000 / n, 3) for k, v in sorted(out.items(), key=lambda kv: -kv[1])
            if v * 1000 / n >= 0.001}
