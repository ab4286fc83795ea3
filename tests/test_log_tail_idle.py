"""LogTail's idle poll: a folder listed again only when its (device, inode, mtime) moved, and
nothing missed for it: an append, a new file, a rotation, a file replaced under its name, a
folder created later, two changes within one mtime tick, a stamp that lies (a clock stepped back)."""

from __future__ import annotations

import os
import time

from ranking.event_log import EventLog
from ranking.live import log_tail
from ranking.live.log_tail import SETTLED_NS, LogTail

T0 = 1_788_256_800_000
OLD_NS = time.time_ns() - 3600 * 10**9  # an mtime long settled


def click(i: int) -> dict:
    return {"request_id": i, "timestamp": T0 + i * 1000, "user_id": 1, "product_id": 100 + i, "position": 1}


def ids(tail: LogTail) -> list[int]:
    return sorted(r["request_id"] for r in tail.poll()["clicks"])


def stamp(folder, ns: int) -> None:
    """Set the folder's mtime (what a coarse clock, or a clock stepped back, would leave)."""
    os.utime(folder, ns=(ns, ns))


def settled_tail(tmp_path) -> tuple[LogTail, EventLog]:
    log = EventLog(tmp_path, writer="w")
    log.append({"clicks": [click(1)]})
    stamp(tmp_path / "clicks", OLD_NS)
    tail = LogTail(tmp_path, tables=("clicks",))
    assert ids(tail) == [1]
    return tail, log


def test_an_idle_poll_of_a_settled_folder_lists_nothing_and_stats_no_path(tmp_path, monkeypatch):
    tail, _ = settled_tail(tmp_path)
    listed, stats = [], []
    monkeypatch.setattr(log_tail, "_logs_in", lambda folder: listed.append(folder) or [])
    real_stat = os.stat
    monkeypatch.setattr(log_tail.os, "stat", lambda p, *a, **k: stats.append(str(p)) or real_stat(p, *a, **k))
    for _ in range(5):
        assert ids(tail) == []
    assert listed == [], "a folder whose stamp did not move is not listed again"
    assert stats == [str(tmp_path / "clicks")] * 5, "one stat of the folder a poll, none of its files"
    tail.close()


def test_a_settled_folder_still_shows_appends_new_files_rotations_and_replacements(tmp_path):
    tail, log = settled_tail(tmp_path)
    log.append({"clicks": [click(2)]})  # an append: the folder's mtime stays
    assert os.stat(tmp_path / "clicks").st_mtime_ns == OLD_NS
    assert ids(tail) == [2]
    EventLog(tmp_path, writer="x").append({"clicks": [click(3)]})  # a new writer's file
    assert ids(tail) == [3]
    path = tmp_path / "clicks" / "w.jsonl"
    stamp(tmp_path / "clicks", OLD_NS)
    assert ids(tail) == []
    log.append({"clicks": [click(4)]})
    os.rename(path, path.with_suffix(".jsonl.1"))  # rotated away, a new file at the path
    log.append({"clicks": [click(5)]})
    assert ids(tail) == [4, 5]
    stamp(tmp_path / "clicks", OLD_NS)
    assert ids(tail) == []
    log.append({"clicks": [click(6)]})
    fresh = tmp_path / "fresh.jsonl"
    fresh.write_text('{"request_id": 7, "timestamp": 1, "user_id": 1, "product_id": 7, "position": 1}\n')
    os.replace(fresh, path)  # replaced under the same name: the old file read to its end, the new whole
    assert ids(tail) == [6, 7]
    tail.close()


def test_a_folder_created_after_the_tail_started_is_followed(tmp_path):
    tail = LogTail(tmp_path, tables=("clicks",))
    assert ids(tail) == []
    EventLog(tmp_path, writer="w").append({"clicks": [click(1)]})
    assert ids(tail) == [1]
    tail.close()


def test_two_changes_within_one_mtime_tick_are_both_seen(tmp_path, monkeypatch):
    """A coarse clock stamps both changes alike: the listing after the first must not vouch for the
    names, since its mtime is not yet :data:`SETTLED_NS` old."""
    folder = tmp_path / "clicks"
    tick = time.time_ns()
    EventLog(tmp_path, writer="a").append({"clicks": [click(1)]})
    stamp(folder, tick)
    tail = LogTail(tmp_path, tables=("clicks",))
    assert ids(tail) == [1]
    EventLog(tmp_path, writer="b").append({"clicks": [click(2)]})  # the same tick: the same mtime
    stamp(folder, tick)
    assert ids(tail) == [2], "a second file within the first one's tick"
    tail.close()
    # the same with the rule off misses it: the case above is the one the rule is for
    monkeypatch.setattr(log_tail, "SETTLED_NS", 0)
    tail = LogTail(tmp_path, tables=("clicks",))
    assert ids(tail) == [1, 2]
    EventLog(tmp_path, writer="c").append({"clicks": [click(3)]})
    stamp(folder, tick)
    assert ids(tail) == [], "without the rule, a change within the tick of the listing is missed"
    tail.close()


def test_a_listing_becomes_trusted_once_its_mtime_is_settled(tmp_path, monkeypatch):
    EventLog(tmp_path, writer="a").append({"clicks": [click(1)]})
    tail = LogTail(tmp_path, tables=("clicks",))
    assert ids(tail) == [1]
    listed = []
    real = log_tail._logs_in
    monkeypatch.setattr(log_tail, "_logs_in", lambda folder: listed.append(1) or real(folder))
    assert ids(tail) == []
    assert listed == [1], "a fresh mtime: listed again"
    later = time.time_ns() + SETTLED_NS + 10**9
    monkeypatch.setattr(log_tail.time, "time_ns", lambda: later)
    assert ids(tail) == [] and ids(tail) == []
    assert listed == [1, 1], "listed once more with the mtime settled, then trusted"
    tail.close()


def test_every_folder_is_listed_again_after_a_while_even_when_its_stamp_lies(tmp_path, monkeypatch):
    tail, _ = settled_tail(tmp_path)
    EventLog(tmp_path, writer="x").append({"clicks": [click(2)]})
    stamp(tmp_path / "clicks", OLD_NS)  # a clock stepped back: the new file leaves the old stamp
    assert ids(tail) == []
    later = time.monotonic() + log_tail.RELIST_SECONDS + 1
    monkeypatch.setattr(log_tail.time, "monotonic", lambda: later)
    assert ids(tail) == [2]
    tail.close()


def test_a_resumed_tail_lists_its_folders_before_trusting_them(tmp_path):
    tail, log = settled_tail(tmp_path)
    positions = tail.positions()
    tail.close()
    log.append({"clicks": [click(2)]})
    EventLog(tmp_path, writer="x").append({"clicks": [click(3)]})
    stamp(tmp_path / "clicks", OLD_NS)
    resumed = LogTail(tmp_path, tables=("clicks",))
    assert resumed.resume(positions) == 1
    assert ids(resumed) == [2, 3]
    resumed.close()
