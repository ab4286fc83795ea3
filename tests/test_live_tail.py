"""The embedded live state follows the event log: every writer, torn tails, rotation, restarts."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from ranking.event_log import EventLog
from ranking.live.backend import LiveBackendError, open_live_state
from ranking.live.embedded import EmbeddedLiveState
from ranking.live.log_tail import LogTail
from ranking.settings import LiveSettings, load_settings

T0 = 1_788_256_800_000


def click(i: int, user: int | None = 1, product: int | None = None, session: str | None = None) -> dict:
    return {"request_id": i, "timestamp": T0 + i * 1000, "user_id": user, "session_id": session,
            "product_id": product if product is not None else 100 + i, "position": 1}


def test_tail_reads_every_writer_and_only_complete_lines(tmp_path):
    a, b = EventLog(tmp_path, writer="a"), EventLog(tmp_path, writer="b")
    tail = LogTail(tmp_path)
    a.append({"clicks": [click(1)]})
    b.append({"clicks": [click(2), click(3)]})
    assert sorted(r["request_id"] for r in tail.poll()["clicks"]) == [1, 2, 3]
    assert tail.poll()["clicks"] == []  # nothing new
    path = tmp_path / "clicks" / "a.jsonl"
    with open(path, "ab") as f:  # a line still being written
        f.write(b'{"request_id": 4, "timestamp": ')
    assert tail.poll()["clicks"] == []
    with open(path, "ab") as f:
        f.write(f'{T0}, "user_id": 1, "product_id": 9, "position": 1}}\n'.encode())
    assert [r["request_id"] for r in tail.poll()["clicks"]] == [4]


def test_tail_follows_rotation_and_a_torn_tail_cut_by_its_writer(tmp_path):
    log = EventLog(tmp_path, writer="w")
    tail = LogTail(tmp_path)
    log.append({"clicks": [click(1)]})
    assert len(tail.poll()["clicks"]) == 1
    log.append({"clicks": [click(2)]})
    path = tmp_path / "clicks" / "w.jsonl"
    os.rename(path, path.with_suffix(".jsonl.1"))  # logrotate moves it away ...
    log.append({"clicks": [click(3)]})  # ... the writer goes on in a new file at the path
    assert sorted(r["request_id"] for r in tail.poll()["clicks"]) == [2, 3]
    with open(path, "ab") as f:  # a crash mid-line ...
        f.write(b'{"request_id": 99')
    assert tail.poll()["clicks"] == []
    EventLog(tmp_path, writer="w").append({"clicks": [click(5)]})  # ... the restarted writer cuts it
    assert [r["request_id"] for r in tail.poll()["clicks"]] == [5]


def _same(a, b) -> None:
    for name in ("items", "times_ms", "kinds", "leaves", "bought", "ignored", "ignored_shown", "exclude"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_embedded_state_sees_appends_within_a_poll_and_a_restart_rebuilds_it(tmp_path):
    settings = LiveSettings(poll_ms=20)
    log = EventLog(tmp_path, writer="other-worker")
    log.append({"clicks": [click(1, product=7)]})
    live = EmbeddedLiveState(settings, tmp_path)
    assert live.start() == 1
    try:
        sent = time.perf_counter()
        log.append({"clicks": [click(2, product=8)], "orders": [
            {"order_id": 1, "request_id": 2, "timestamp": T0 + 3000, "user_id": 1, "session_id": None,
             "product_id": 8, "store_id": 3, "price_paid": 10.0, "quantity": 1, "cancelled": False}]})
        while 8 not in live.shopper_view(1).items.tolist():
            assert time.perf_counter() - sent < 1.0, "not visible within a second"
            time.sleep(0.005)
        before = live.shopper_view(1, at_ms=T0 + 10_000)
    finally:
        live.stop()
    assert before.items.tolist()[:2] == [8, 8] and before.bought.tolist() == [8]
    assert 8 in before.exclude.tolist(), "a bought product of an unknown (non-consumable) leaf stays away"
    restarted = EmbeddedLiveState(settings, tmp_path)
    restarted.catch_up()
    _same(before, restarted.shopper_view(1, at_ms=T0 + 10_000))


def test_a_session_is_followed_and_folds_into_the_user_who_signs_in(tmp_path):
    log = EventLog(tmp_path, writer="w")
    live = EmbeddedLiveState(LiveSettings(), tmp_path)
    log.append({"clicks": [click(1, user=None, product=5, session="s-1"),
                           click(2, user=None, product=6, session="s-1")]})
    live.catch_up()
    assert live.shopper_view(None, "s-1").items.tolist() == [6, 5]
    assert not live.shopper_view(42).known
    log.append({"clicks": [click(3, user=42, product=7, session="s-1")]})
    live.catch_up()
    assert live.shopper_view(42).items.tolist() == [7, 6, 5], "the session's history is the user's now"


def test_a_card_shown_by_the_service_and_reported_by_the_client_counts_once(tmp_path):
    log = EventLog(tmp_path, writer="w")
    live = EmbeddedLiveState(LiveSettings(ignore_after_impressions=2), tmp_path)
    exposure = {"request_id": 1, "timestamp": T0, "user_id": 9, "session_id": None, "surface": "homepage",
                "cards": {"product_id": [50, 51], "position": [1, 2]}}
    impression = {"request_id": 1, "timestamp": T0, "user_id": 9, "surface": "homepage", "query_id": None,
                  "product_id": 50, "position": 1, "variant": "v", "propensity": 1.0}
    log.append({"exposures": [exposure], "impressions": [impression]})
    live.catch_up()
    assert live.shopper_view(9).exclude.tolist() == [], "one showing each"
    log.append({"exposures": [{**exposure, "request_id": 2}]})
    live.catch_up()
    view = live.shopper_view(9)
    assert sorted(view.exclude.tolist()) == [50, 51] and view.ignored_shown.tolist() == [2, 2]


def test_the_factory_picks_the_backend_the_setting_names(tmp_path):
    events = f"serving.events_dir={tmp_path}"
    assert isinstance(open_live_state(load_settings([events])), EmbeddedLiveState)
    assert open_live_state(load_settings([events, "live.backend=off"])) is None
    redis_backend = open_live_state(load_settings([events, "live.backend=redis"]))  # not started: no server
    assert type(redis_backend).__name__ == "RedisLiveBackend"
    with pytest.raises(LiveBackendError, match="not a live-state backend"):
        open_live_state(load_settings([events]).model_copy(update={"live": LiveSettings.model_construct(
            backend="memcached")}))


def test_a_tail_resumes_from_exported_positions_and_rereads_a_replaced_file(tmp_path):
    log = EventLog(tmp_path, writer="w")
    log.append({"clicks": [click(1)], "carts": [click(2)]})
    first = LogTail(tmp_path)
    first.poll()
    positions = first.positions()
    assert set(positions) == {"clicks/w.jsonl", "carts/w.jsonl"}
    first.close()
    log.append({"clicks": [click(3)]})
    carts = tmp_path / "carts" / "w.jsonl"
    carts.rename(tmp_path / "carts-old.jsonl")  # replaced while no tail ran: a new inode at the path
    EventLog(tmp_path, writer="w").append({"carts": [click(4)]})
    resumed = LogTail(tmp_path)
    assert resumed.resume(positions) == 1, "the replaced file is not resumed"
    rows = resumed.poll()
    assert [r["request_id"] for r in rows["clicks"]] == [3], "only what was appended since"
    assert [r["request_id"] for r in rows["carts"]] == [4], "the new file from its start"
    resumed.close()
    clicks = tmp_path / "clicks" / "w.jsonl"
    shorter = {**positions, "clicks/w.jsonl": (clicks.stat().st_ino, clicks.stat().st_size + 1)}
    again = LogTail(tmp_path)
    assert again.resume(shorter) == 0, "a file shorter than its offset is another file"
    assert sorted(r["request_id"] for r in again.poll()["clicks"]) == [1, 3]
    again.close()


def test_an_exposure_line_becomes_one_slim_impression_row_per_card(tmp_path):
    log = EventLog(tmp_path, writer="w")
    exposure = {"request_id": 7, "timestamp": T0, "user_id": 9, "session_id": None, "surface": "channel",
                "channel": "subsidy", "query_id": None, "variant": "b", "latency_ms": 3.2, "query": "大米",
                "live_features": {"live_ctr": [0.1, 0.2]},
                "cards": {"product_id": [50, 51], "position": [1, 2], "propensity": [1.0, 0.5]}}
    log.append({"exposures": [exposure]})
    rows = LogTail(tmp_path).poll()["impressions"]
    shared = {"request_id": 7, "timestamp": T0, "user_id": 9, "session_id": None, "query_id": None,
              "surface": "channel", "channel": "subsidy"}
    assert rows == [{**shared, "product_id": 50, "position": 1}, {**shared, "product_id": 51, "position": 2}]


def test_a_line_only_the_standard_library_parses_is_still_read(tmp_path):
    path = tmp_path / "clicks" / "w.jsonl"
    path.parent.mkdir()
    # an integer past 64 bits and a NaN: orjson refuses both, json (what the tail used before) reads them
    path.write_bytes(f'{{"request_id": 1, "timestamp": {T0}, "user_id": 1, "product_id": 9, '
                     f'"note": 123456789012345678901234567890, "score": NaN}}\n'.encode())
    tail = LogTail(tmp_path)
    [row] = tail.poll()["clicks"]
    assert row["note"] == 123456789012345678901234567890 and row["score"] != row["score"]
    assert tail.bad_lines == 0



def test_the_subsidy_channels_rows_are_counted_before_the_lock_is_taken(tmp_path, monkeypatch):
    """A poll's Python pass over every impression for the channel's counts runs while pages may
    still read the live state; only adding the counts holds the lock."""
    import threading

    from ranking.live import embedded

    live = EmbeddedLiveState(LiveSettings(), tmp_path)
    held: list[bool] = []
    counted = embedded.channel_counts

    def try_lock(free: list[bool]) -> None:  # another thread (a page) asks for the lock
        free.append(live.lock.acquire(blocking=False))
        if free[0]:
            live.lock.release()

    def channel_counts(rows):
        free: list[bool] = []
        other = threading.Thread(target=try_lock, args=(free,))
        other.start()
        other.join()
        held.append(not free[0])
        return counted(rows)

    monkeypatch.setattr(embedded, "channel_counts", channel_counts)
    exposure = {"request_id": 7, "timestamp": T0, "user_id": 9, "session_id": None, "surface": "channel",
                "channel": "subsidy", "query_id": None, "cards": {"product_id": [50, 51], "position": [1, 2]}}
    EventLog(tmp_path, writer="w").append({"exposures": [exposure]})
    live.catch_up()
    assert held == [False]
    assert live.channel_exposures(T0) == {50: 1, 51: 1}
    live.stop()

def test_rows_become_the_same_columns_whether_or_not_every_row_holds_every_field():
    import pyarrow as pa

    from ranking.live.log_rows import TABLE_COLUMNS, column_tables
    from ranking.live.row_columns import RowColumns

    def log_tables(polled: dict, pause=None) -> dict:  # the rows as the live tail holds them: columns
        held = {t: RowColumns() for t in polled}
        for t, rows in polled.items():
            held[t].add_rows(rows)
        return column_tables(held, pause)

    whole = [click(i, session="s") for i in range(5)]
    ragged = [click(0), {"request_id": 1, "timestamp": T0, "product_id": 5}, {**click(2), "store_id": 3}]
    typed = [{**click(i), "price_paid": 1.5 * i, "quantity": i, "cancelled": i % 2 == 0, "query_id": None,
              "session_id": None if i % 3 else f"s{i}"} for i in range(6)]
    paused: list[int] = []
    for rows in (whole, ragged, whole[:1], typed):
        expected = pa.table({n: [r.get(n) for r in rows] for n in TABLE_COLUMNS if any(n in r for r in rows)})
        assert log_tables({"clicks": rows})["clicks"].equals(expected)
        paused.clear()
        got = log_tables({"clicks": rows, "impressions": rows}, lambda: paused.append(1))
        assert got["clicks"].equals(expected) and got["impressions"].equals(expected)
        assert got["clicks"].schema == expected.schema
        assert len(paused) == 2  # once per table, between its columns and its Arrow arrays


def _exposure_lines(log: EventLog, pages: int, first: int = 0) -> None:
    """``pages`` exposure lines of 20 cards, half of them searches, a few shoppers by session only."""
    rng = np.random.default_rng(first)
    lines = []
    for i in range(first, first + pages):
        user = None if i % 7 == 0 else int(rng.integers(5))
        lines.append({"request_id": 1000 + i, "timestamp": T0 + i * 10, "user_id": user,
                      "session_id": f"s-{i % 3}" if user is None or i % 5 == 0 else None,
                      "surface": "search" if i % 2 else "homepage", "query_id": 77 + i % 4 if i % 2 else None,
                      "cards": {"product_id": rng.choice(300, 20, replace=False).tolist(),
                                "position": list(range(1, 21))}})
    log.append({"exposures": lines})


def test_a_poll_applied_with_pauses_between_its_steps_is_the_same_apply(tmp_path):
    """The live tail gives the GIL back between a poll's steps and every few dozen lines: the
    same rows are applied, in the same order, with or without the pauses."""
    log = EventLog(tmp_path, writer="w")
    paused, plain = EmbeddedLiveState(LiveSettings(), tmp_path), EmbeddedLiveState(LiveSettings(), tmp_path)
    pauses = []
    for first in (0, 200):
        _exposure_lines(log, 200, first)
        assert paused.catch_up(lambda: pauses.append(1)) == plain.catch_up() == 200 * 20
    assert len(pauses) >= 2 * (200 // 32), "a pause every 32 lines parsed, every 640 rows and between steps"
    for user, session in [(u, None) for u in range(5)] + [(None, f"s-{k}") for k in range(3)]:
        _same(paused.shopper_view(user, session, T0 + 10_000), plain.shopper_view(user, session, T0 + 10_000))
        queries = [v.shopper_view(user, session).queries.tolist() for v in (paused, plain)]
        assert queries[0] == queries[1]
    ids = np.arange(300)
    for name, values in paused.product_signals(ids, T0 + 10_000).items():
        np.testing.assert_array_equal(values, plain.product_signals(ids, T0 + 10_000)[name], err_msg=name)
    assert paused.catch_up(lambda: pauses.append(1)) == 0


def test_the_background_tail_pauses_between_steps(tmp_path, monkeypatch):
    """The tail thread's polls give the GIL back (a page waiting for it is not held up by a whole
    burst); an idle poll does not pause."""
    import ranking.live.embedded as embedded

    pauses = []
    monkeypatch.setattr(embedded.Pacer, "__call__", lambda self: pauses.append(1))
    live = EmbeddedLiveState(LiveSettings(poll_ms=10), tmp_path)
    live.start()
    try:
        time.sleep(0.1)
        assert pauses == [], "nothing to apply: no pause"
        _exposure_lines(EventLog(tmp_path, writer="w"), 100)
        sent = time.perf_counter()
        while live.state.applied["impressions"] < 100 * 20:
            # applied while pausing (the service tests hold the live state to a second on every
            # worker; this one only waits for the apply, generously, on a loaded machine)
            assert time.perf_counter() - sent < 10.0, "not applied"
            time.sleep(0.005)
    finally:
        live.stop()
    assert len(pauses) >= 4


def test_the_pacer_pauses_three_times_the_work_within_a_budget_a_poll():
    from ranking.live.pacer import PAUSE_SECONDS, Pacer

    cpu, slept = [0.0], []
    pacer = Pacer(ratio=3.0, budget=0.05, clock=lambda: cpu[0], sleep=slept.append)
    pacer.start()
    for worked in (0.002, 0.0, 0.004, 0.02):
        cpu[0] += worked
        pacer()
    assert slept == pytest.approx([0.006, PAUSE_SECONDS, 0.012, 0.05 - 0.018 - PAUSE_SECONDS])
    cpu[0] += 0.001
    pacer()
    assert len(slept) == 4, "the poll's budget is spent: a backlog goes on at full speed"
    pacer.start()
    cpu[0] += 0.001
    pacer()
    assert slept[-1] == pytest.approx(0.003), "a new poll: a new budget, counted from its start"


def test_the_pacer_follows_the_live_apply_pause_settings(tmp_path, monkeypatch):
    """``live.apply_pause_*`` set the pauses of both backends' appliers; a zero budget turns them off."""
    import ranking.live.embedded as embedded
    from ranking.live.pacer import Pacer

    settings = LiveSettings(apply_pause_ratio=2.0, apply_pause_min_ms=1.0, apply_pause_budget_ms=10.0)
    cpu, slept = [0.0], []
    pacer = Pacer.of(settings)
    assert (pacer.ratio, pacer.shortest, pacer.budget) == (2.0, 0.001, 0.01)
    pacer.clock, pacer.sleep = (lambda: cpu[0]), slept.append
    pacer.start()
    for worked in (0.0, 0.002, 0.02):
        cpu[0] += worked
        pacer()
    assert slept == pytest.approx([0.001, 0.004, 0.01 - 0.005])
    off, slept = Pacer.of(LiveSettings(apply_pause_budget_ms=0)), []
    off.sleep = slept.append
    off.start()
    off()
    assert slept == [], "a zero budget: no pause"
    made = []
    monkeypatch.setattr(embedded.Pacer, "of", classmethod(lambda cls, s: made.append(s) or Pacer(0, 0)))
    live = EmbeddedLiveState(LiveSettings(poll_ms=10, apply_pause_ratio=2.0), tmp_path)
    live.start()
    try:
        deadline = time.perf_counter() + 10
        while not made and time.perf_counter() < deadline:
            time.sleep(0.01)
    finally:
        live.stop()
    assert made and made[0].apply_pause_ratio == 2.0, "the tail's pacer is made from its settings"


@pytest.mark.parametrize("memory", [50, 700, 200_000])
def test_first_showings_keep_the_rows_and_the_memory_the_row_by_row_check_kept(memory, monkeypatch):
    """The usual rows are kept by C-level passes, any other rows one by one: the same rows and
    the same memory (in order) as the row-by-row check, with shoppers without a user, anonymous
    visitors, cards shown again in a poll and across polls, missing keys and evictions."""
    from row_references import first_showings

    from ranking.live.log_rows import FirstShowings
    from ranking.live.row_columns import RowColumns

    rng = np.random.default_rng(memory)
    got, ref = FirstShowings(memory), {}
    fresh, chunks = FirstShowings._fresh, []  # chunks: 0 kept by C-level passes, 1 checked one by one

    def noted(self, *args):
        keys = fresh(self, *args)
        chunks.append(int(keys is None))
        return keys

    monkeypatch.setattr(FirstShowings, "_fresh", noted)
    request = 0
    for poll in range(40):
        rows = []
        for _ in range(int(rng.integers(0, 60))):  # pages of cards
            request += 1
            kind = rng.integers(10)
            user = None if kind < 2 else int(rng.integers(9))
            session = ("" if kind == 0 else f"s{kind}") if user is None or kind == 9 else None
            page = [{"request_id": request if kind != 3 else None, "user_id": user, "session_id": session,
                     "product_id": int(p)} for p in rng.choice(500, 20, replace=False)]
            if kind == 4:
                page = [{k: v for k, v in r.items() if k != "session_id"} for r in page]
            rows += page
        if poll % 3 == 0 and rows:  # the client's impressions of cards the service showed
            rows += [dict(r) for r in rows[:: int(rng.integers(2, 9))]]
        held = RowColumns()
        held.add_rows(rows)
        assert got.columns(held).rows() == first_showings(ref, memory, rows)
        assert got.remembered() == list(ref)
    assert 0 < sum(chunks) < len(chunks), "both ways taken: C-level passes and one by one"
