"""The event log survives full disks, crashes, rotation and deletion: no torn line reaches a
reader, and no acknowledged event vanishes without a loud log line (issue 24.2, 24.3)."""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
from pathlib import Path

import pytest
from conftest import record_reliability

import ranking.append_file as append_file
from ranking.event_log import EventLog, EventLogUnavailableError, read_event_log
from ranking.event_reader import BadEventLinesError

T0 = 1788256800000


def _clicks(first: int, n: int) -> list[dict]:
    return [{"request_id": first + i, "timestamp": T0 + i, "user_id": 7, "product_id": 100 + i,
             "position": 1 + i % 20} for i in range(n)]


def _carts(first: int, n: int) -> list[dict]:
    return [{"request_id": first + i, "timestamp": T0 + i, "user_id": 7, "product_id": 100 + i}
            for i in range(n)]


def _read_ids(root: Path, table: str = "clicks") -> list[int]:
    report = read_event_log(root)
    assert report.partial_lines == 0 and not report.skipped
    return report.tables[table].column("request_id").to_pylist()


class PartialThenFull:
    """``os.write`` that writes part of the bytes of its first call, then fails with ENOSPC
    (as a filling disk does); it records the file's size it saw after the partial write."""

    def __init__(self, real=os.write, fail_calls: int = 1) -> None:
        self.real, self.fail_calls = real, fail_calls
        self.sizes_after_partial: list[int] = []

    def __call__(self, fd: int, data) -> int:
        if self.fail_calls <= 0:
            return self.real(fd, data)
        self.fail_calls -= 1
        self.real(fd, bytes(data[: len(data) // 2]))
        self.sizes_after_partial.append(os.fstat(fd).st_size)
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_partial_write_on_a_full_disk_is_truncated_away_and_the_next_batch_starts_clean(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = EventLog(tmp_path, writer="w")
    log.append({"clicks": _clicks(1, 10)})
    path = tmp_path / "clicks" / "w.jsonl"
    whole = path.stat().st_size
    full = PartialThenFull()
    with monkeypatch.context() as patched:
        patched.setattr(append_file.os, "write", full)
        with pytest.raises(EventLogUnavailableError, match="No space left"):
            log.append({"clicks": _clicks(100, 50)})
    assert full.sizes_after_partial[0] > whole  # torn bytes did reach the file ...
    assert path.stat().st_size == whole  # ... and were truncated away before the 503
    log.append({"clicks": _clicks(200, 10)})  # space is back: appended on a clean line
    ids = _read_ids(tmp_path)
    assert ids == list(range(1, 11)) + list(range(200, 210))
    assert log.incidents["rolled_back"] == 1
    acknowledged = 10 + 10  # the two appends that returned
    record_reliability("event_log_torn_write", partial_writes=len(full.sizes_after_partial),
                       acknowledged=acknowledged, lost=acknowledged - len(set(ids)),
                       unreadable=len(read_event_log(tmp_path, skip_bad=True).skipped))


def test_a_batch_over_several_tables_is_undone_in_every_table_when_one_write_fails(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = EventLog(tmp_path, writer="w")
    real = os.write
    calls = {"n": 0}

    def second_call_partial(fd: int, data) -> int:
        calls["n"] += 1
        if calls["n"] == 2:  # the carts: clicks were written and fsynced
            real(fd, bytes(data[:7]))
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, data)

    monkeypatch.setattr(append_file.os, "write", second_call_partial)
    with pytest.raises(EventLogUnavailableError):
        log.append({"clicks": _clicks(1, 3), "carts": _carts(1, 3)})
    monkeypatch.undo()
    assert (tmp_path / "clicks" / "w.jsonl").stat().st_size == 0  # not acknowledged: not kept
    assert (tmp_path / "carts" / "w.jsonl").stat().st_size == 0


def test_a_torn_tail_left_by_a_crash_is_cut_off_and_quarantined_on_open(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "clicks"
    folder.mkdir()
    good = json.dumps(_clicks(1, 1)[0]) + "\n"
    torn = json.dumps(_clicks(2, 1)[0])[:30]
    (folder / "w.jsonl").write_text(good + torn)  # a kill -9 mid-write
    report = read_event_log(tmp_path)  # a reader sees it as a torn tail, never as a record
    assert report.partial_lines == 1 and report.files[0].torn_tail_bytes == len(torn)
    assert "torn last line" in report.files[0].describe()
    log = EventLog(tmp_path, writer="w")
    with caplog.at_level(logging.ERROR, logger="shelfrank.event_log"):
        log.append({"clicks": _clicks(3, 1)})
    assert "torn last line of 30 bytes" in caplog.text
    assert (folder / "w.jsonl.torn").read_text() == torn + "\n"
    assert _read_ids(tmp_path) == [1, 3]
    assert log.incidents["torn_tail"] == 1


def test_appends_are_refused_below_the_free_space_watermark(tmp_path: Path) -> None:
    log = EventLog(tmp_path, writer="w", min_free_mb=10**12)  # more than any disk holds
    with pytest.raises(EventLogUnavailableError, match="watermark"):
        log.append({"clicks": _clicks(1, 2)})
    assert (tmp_path / "clicks" / "w.jsonl").stat().st_size == 0


def test_a_rotated_file_is_left_alone_and_appends_land_in_a_new_file_at_the_path(tmp_path: Path) -> None:
    log = EventLog(tmp_path, writer="w")
    log.append({"clicks": _clicks(1, 5)})
    path = tmp_path / "clicks" / "w.jsonl"
    path.rename(tmp_path / "clicks" / "w.jsonl.shipped")
    log.append({"clicks": _clicks(10, 5)})
    assert path.exists() and len(path.read_text().splitlines()) == 5
    assert len((tmp_path / "clicks" / "w.jsonl.shipped").read_text().splitlines()) == 5
    # the issue's `mv clicks clicks.shipped`: the whole table folder moved away
    shutil.move(tmp_path / "clicks", tmp_path / "clicks.shipped")
    log.append({"clicks": _clicks(20, 5)})
    assert _read_ids(tmp_path) == list(range(20, 25))
    assert log.incidents["rotated"] == 2 and log.incidents["deleted"] == 0
    kept = [len(p.read_text().splitlines()) for p in (tmp_path / "clicks.shipped").iterdir()]
    record_reliability("event_log_rotation", rotations=log.incidents["rotated"],
                       lost_after_rotation=15 - sum(kept) - len(_read_ids(tmp_path)))


def test_a_deleted_file_is_recreated_and_the_loss_is_logged(tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    log = EventLog(tmp_path, writer="w")
    log.append({"clicks": _clicks(1, 5)})
    (tmp_path / "clicks" / "w.jsonl").unlink()
    with caplog.at_level(logging.ERROR, logger="shelfrank.event_log"):
        log.append({"clicks": _clicks(10, 5)})
    assert "was deleted" in caplog.text and "acknowledged" in caplog.text
    assert _read_ids(tmp_path) == list(range(10, 15))  # nothing went to the unlinked inode
    assert log.incidents["deleted"] == 1
    record_reliability("event_log_deletion", deletions=log.incidents["deleted"],
                       lost_after_reopen=5 - len(_read_ids(tmp_path)))


def test_the_reader_names_the_file_and_line_of_a_bad_record(tmp_path: Path) -> None:
    log = EventLog(tmp_path, writer="w")
    log.append({"clicks": _clicks(1, 2)})
    path = tmp_path / "clicks" / "w.jsonl"
    with path.open("a") as f:
        f.write('{"request_id": 3, "timestamp": 1788256800000, "user_id": 7 "product_id": 1}\n')
        f.write(json.dumps({**_clicks(4, 1)[0], "position": "top"}) + "\n")
        f.write(json.dumps({**_clicks(5, 1)[0], "position": 0}) + "\n")
    log.append({"clicks": _clicks(6, 1)})
    with pytest.raises(BadEventLinesError) as caught:
        read_event_log(tmp_path)
    text = str(caught.value)
    assert f"{path}:3: not an event record (Expecting ',' delimiter" in text
    assert f"{path}:4: position: 'top' is not int16" in text
    assert f"{path}:5: position: below 1" in text
    report = read_event_log(tmp_path, skip_bad=True)
    assert [(b.line, b.path) for b in report.skipped] == [(3, path), (4, path), (5, path)]
    assert report.tables["clicks"].column("request_id").to_pylist() == [1, 2, 6]
    assert report.files[0].lines == 6 and report.files[0].bad == 3


def test_each_event_line_records_its_client_and_when_it_arrived(tmp_path: Path) -> None:
    log = EventLog(tmp_path, writer="w")
    log.append({"clicks": _clicks(1, 2)}, client="frontend-a")
    log.append({"clicks": _clicks(3, 1)})
    line = json.loads((tmp_path / "clicks" / "w.jsonl").read_text().splitlines()[0])
    assert line["_client"] == "frontend-a" and line["_received_ms"] > T0
    report = read_event_log(tmp_path)
    assert report.origins["clicks"].column("client").to_pylist() == ["frontend-a", "frontend-a", None]
    assert report.tables["clicks"].column_names == ["request_id", "timestamp", "user_id", "product_id",
                                                    "position"]  # training never sees it
