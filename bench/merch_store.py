"""What storing and following a big merchandising book costs: 1,000 rules and 10,000 synonym sets.

``python -m bench.merch_store [--rules 1000] [--synonyms 10000] [--repeat 20]`` builds an event log
in a temporary folder the way the service writes it (one change line per item, appended with an
fsync: ``ranking.event_log``), then measures:

* ``append_one_ms``: one rule's line appended and fsynced (what a ``POST /v1/rules`` waits for
  before its 201), p50 and p99 over ``--repeat``;
* ``replay_s``: a worker's start: every line read from the log and folded into the book (what a
  restart or a new worker does before it takes traffic);
* ``one_change_ms``: a change folded into that big book and the new book published (what the
  answering worker does before answering, and every other worker at its next poll), p50 / p99;
* ``idle_poll_ms``: a follower's poll when nothing changed (every worker, every ``live.poll_ms``).

The follower builds a new book's indexes before it publishes it (``book.rule_index`` /
``book.synonym_index``), so ``replay_s`` and ``one_change_ms`` include them: a rule change rebuilds
the rules' index and hands the synonym index on. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from ranking.event_log import EventLog
from ranking.live.catalog_feed import LogCatalogFeed
from ranking.live.merch_follower import MerchFollower
from ranking.merchandising.changes import MERCH_RULES, MERCH_SYNONYMS, MERCH_TABLES, PUT, change_line


def _rule(i: int, now: int) -> dict:
    rid = f"r-{i:012x}"
    return change_line(PUT, rid, {"match": {"query": f"query {i}"}, "action": {"pin": [i, i + 1]},
                                  "reason": "bench", "id": rid, "author": "operator", "created_ms": now,
                                  "updated_ms": now}, "operator", "bench", now)


def _synonym(i: int, now: int) -> dict:
    sid = f"s-{i:012x}"
    return change_line(PUT, sid, {"terms": [f"word{i}", f"词{i}", f"term {i}"], "one_way": i % 2 == 0,
                                   "reason": "bench", "id": sid, "author": "operator", "created_ms": now,
                                   "updated_ms": now}, "operator", "bench", now)


def _ms(values: list[float]) -> dict:
    a = np.asarray(values) * 1000
    return {"p50": round(float(np.percentile(a, 50)), 3), "p99": round(float(np.percentile(a, 99)), 3)}


def measure(folder: Path, rules: int, synonyms: int, repeat: int) -> dict:
    log, now = EventLog(folder), int(time.time() * 1000)
    log.append({MERCH_RULES: [_rule(i, now) for i in range(rules)],
                MERCH_SYNONYMS: [_synonym(i, now) for i in range(synonyms)]}, client="operator")
    started = time.perf_counter()
    follower = MerchFollower([LogCatalogFeed(folder, MERCH_TABLES)], poll_ms=100)
    folded = follower.catch_up()
    replay = time.perf_counter() - started
    appends, changes, idle = [], [], []
    for k in range(repeat):
        t0 = time.perf_counter()
        log.append({MERCH_RULES: [_rule(rules + k, now + k)]}, client="operator")
        t1 = time.perf_counter()
        follower.catch_up()
        t2 = time.perf_counter()
        follower.catch_up()
        idle.append(time.perf_counter() - t2)
        appends.append(t1 - t0)
        changes.append(t2 - t1)
    book = follower.book
    follower.stop()
    log.close()
    return {"rules": len(book.rules), "synonym_sets": len(book.synonyms), "lines_replayed": folded,
            "replay_s": round(replay, 3), "append_one_ms": _ms(appends), "one_change_ms": _ms(changes),
            "idle_poll_ms": _ms(idle)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--synonyms", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        print(json.dumps(measure(Path(folder), args.rules, args.synonyms, args.repeat)))


if __name__ == "__main__":
    main()
