"""What the service's background threads cost with no traffic: ``python -m bench.idle_polls BUNDLE
[--seconds S] [--settle S] [--rounds N] [--set k=v]``.

Starts the real app in process as the service starts it (``serving.app.create_app`` and its
lifespan, :func:`bench.http_path.started_app`: the bundle, live state ``embedded`` with its live
tail, the catalog and merchandising followers, the page threads, the reload watcher on the event
loop), lets it settle ``--settle`` seconds, then runs the event loop for ``--seconds`` with no
request and reads every thread's CPU clock (``pthread_getcpuclockid``: nanoseconds, by thread)
before and after, and the polls the live tail and the two followers counted meanwhile.

Prints as JSON, per round and the lowest over ``--rounds`` windows (steadier on a shared machine):
per thread name (numbered threads summed), ``cpu_ms_per_s``; for the three polling threads
(``live-tail``, ``catalog-follower``, ``merch-follower``) also ``polls_per_s`` and ``us_per_poll``
(the thread's CPU over the polls it made: an idle poll, wakeup included); and the whole process's
``process_cpu_ms_per_s`` (threads that ended included). ``--set`` overrides settings (for example
``live.poll_ms=50``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

from bench.thread_cpu import own_threads

# thread name -> the object on the service state whose ``polls`` that thread counts
POLLERS = {"live-tail": "live", "catalog-follower": "catalog", "merch-follower": "merchandising"}


def by_name(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds spent between two readings per thread name (numbered threads summed; a thread
    started meanwhile, or a new one under an ended one's ident, counts whole; one that ended is not
    listed: the process's total holds it)."""
    out: dict[str, float] = {}
    for ident, (name, clock) in after.items():
        held = before.get(ident)
        spent = clock - held[1] if held is not None and held[0] == name and held[1] <= clock else clock
        out[name] = out.get(name, 0.0) + spent
    return out


def polls(state: Any) -> dict[str, int]:
    """The polls each polling thread has made so far (its object's ``polls``)."""
    out = {}
    for name, attribute in POLLERS.items():
        poller = getattr(state, attribute, None)
        if poller is not None and hasattr(poller, "polls"):
            out[name] = int(poller.polls)
    return out


def window(loop: asyncio.AbstractEventLoop, state: Any, seconds: float) -> dict:
    """Run the event loop ``seconds`` with no request: each thread's CPU and polls meanwhile."""
    before, polled, process = own_threads(), polls(state), time.process_time()
    wall = time.perf_counter()
    loop.run_until_complete(asyncio.sleep(seconds))
    wall = time.perf_counter() - wall
    after, polled_after, process = own_threads(), polls(state), time.process_time() - process
    threads = {}
    for name, spent in sorted(by_name(before, after).items()):
        entry = {"cpu_ms_per_s": round(spent * 1000 / wall, 3)}
        if name in polled_after:
            count = polled_after[name] - polled.get(name, 0)
            entry["polls_per_s"] = round(count / wall, 2)
            entry["us_per_poll"] = round(spent * 1e6 / count, 1) if count else None
        threads[name] = entry
    return {"seconds": round(wall, 2), "process_cpu_ms_per_s": round(process * 1000 / wall, 3),
            "threads": threads}


def lowest(rounds: list[dict]) -> dict:
    """Each thread's lowest figures over the rounds (None when a round had no poll)."""
    out: dict[str, dict] = {}
    for r in rounds:
        for name, entry in r["threads"].items():
            held = out.setdefault(name, {})
            for key, value in entry.items():
                if value is not None:
                    held[key] = value if key not in held else min(held[key], value)
    return {"process_cpu_ms_per_s": min(r["process_cpu_ms_per_s"] for r in rounds), "threads": out}


def run(bundle: Path, seconds: float, settle: float, rounds: int, overrides: list[str]) -> dict:
    from bench.http_path import started_app

    with started_app(bundle, "idle-polls-", overrides) as (app, loop):
        state = app.state.shelfrank
        loop.run_until_complete(asyncio.sleep(settle))  # the start's last work, the first polls
        measured = [window(loop, state, seconds) for _ in range(rounds)]
    return {"bundle": str(bundle), "poll_ms": state.settings.live.poll_ms, "rounds": measured,
            "lowest": lowest(measured)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measured window")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds after the start before measuring")
    parser.add_argument("--rounds", type=int, default=1, help="measured windows, one after the other")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a settings override")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.bundle, args.seconds, args.settle, args.rounds, args.set)))


if __name__ == "__main__":
    main()
