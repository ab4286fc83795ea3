"""What an idle service's background threads cost: ``python -m bench.idle_threads BUNDLE
[--seconds 10] [--rounds 2] [--set k=v]``.

Starts the real app in process (:func:`bench.http_path.started_app`: live state ``embedded``, the
catalog and merchandising followers on), lets it settle, then serves nothing for ``--seconds``
and reads each background thread's CPU clock before and after, and how many polls the live tail
and the two followers made meanwhile. Prints, per thread, the CPU microseconds a second and a
poll (``live-tail``, ``catalog-follower``, ``merch-follower``; the others summed as ``other``),
for each round and the lowest. An idle poll is a wakeup and a look at the log's folders
(``ranking/live/log_tail.py``, "An idle poll"): what three threads cost a worker with no traffic,
and beside the pages of one with some.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

FOLLOWERS = ("live-tail", "catalog-follower", "merch-follower")


def polls(app) -> dict[str, int]:
    """The polls each follower made so far."""
    state = app.state.shelfrank
    return {"live-tail": state.live.polls, "catalog-follower": state.catalog.polls,
            "merch-follower": state.merchandising.polls}


def one_round(bundle: Path, seconds: float, overrides: list[str]) -> dict:
    from bench.http_path import started_app
    from bench.slow_pages import thread_cpu

    with started_app(bundle, "idle-threads-", overrides) as (app, _):
        time.sleep(3.0)  # the start's replays and first polls done
        cpu, count, started = thread_cpu(), polls(app), time.perf_counter()
        time.sleep(seconds)
        cpu_after, count_after, took = thread_cpu(), polls(app), time.perf_counter() - started
    return per_thread(cpu, cpu_after, count, count_after, took)


def per_thread(cpu: dict[str, float], cpu_after: dict[str, float], count: dict[str, int],
               count_after: dict[str, int], took: float) -> dict:
    """CPU us a second of each follower (and of the other threads but the bench's own, summed),
    with each follower's polls a second and CPU us a poll, between two readings ``took`` s apart."""
    out: dict[str, dict] = {}
    for name, spent in cpu_after.items():
        if name == "MainThread":  # the bench's own (asleep)
            continue
        row = out.setdefault(name if name in FOLLOWERS else "other", {"us_per_second": 0.0})
        row["us_per_second"] += (spent - cpu.get(name, 0.0)) * 1e6 / took
    for name in FOLLOWERS:
        made = count_after[name] - count[name]
        row = out.setdefault(name, {"us_per_second": 0.0})
        row["polls_per_second"] = round(made / took, 2)
        row["us_per_poll"] = round(row["us_per_second"] * took / max(made, 1), 1)
    for row in out.values():
        row["us_per_second"] = round(row["us_per_second"], 1)
    out["followers_us_per_second"] = round(sum(out[n]["us_per_second"] for n in FOLLOWERS), 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a setting")
    args = parser.parse_args()
    rounds = [one_round(args.bundle, args.seconds, args.set) for _ in range(args.rounds)]
    print(json.dumps({"seconds": args.seconds, "rounds": rounds,
                      "lowest_followers_us_per_second": min(r["followers_us_per_second"] for r in rounds)}))


if __name__ == "__main__":
    main()
