"""The subsidy channel's pacing arithmetic, its live counts and the theme/session clock."""

from __future__ import annotations

import numpy as np
import pytest

from ranking.channel_pacing import day_start_ms, due_share, minute_of_day, pace_gap, pacing_report, promise_of
from ranking.live.channel_exposures import HOUR_MS, KEEP_HOURS, ChannelExposures, channel_counts
from ranking.live.row_columns import RowColumns
from ranking.pipeline.adjusters.subsidy_theme import in_session
from ranking.settings import MALL_HOURLY_TRAFFIC, ChannelSettings

NOON_SHANGHAI = 1_796_356_800_000  # 2026-12-04T04:00:00Z = 12:00 in Shanghai


def test_the_day_starts_at_mall_local_midnight() -> None:
    start = day_start_ms(NOON_SHANGHAI, "Asia/Shanghai")
    assert NOON_SHANGHAI - start == 12 * HOUR_MS
    assert minute_of_day(NOON_SHANGHAI, "Asia/Shanghai") == 720.0
    assert day_start_ms(NOON_SHANGHAI, "UTC") == NOON_SHANGHAI - 4 * HOUR_MS
    # a zone with summer time takes the slow path and still lands on its midnight
    assert minute_of_day(NOON_SHANGHAI, "Europe/Berlin") == 5 * 60


def test_due_share_follows_the_traffic_curve_or_the_clock() -> None:
    mall = ChannelSettings()
    assert due_share(0, mall) == 0.0 and due_share(1440, mall) == pytest.approx(1.0)
    assert due_share(720, mall) == pytest.approx(sum(MALL_HOURLY_TRAFFIC[:12]) / sum(MALL_HOURLY_TRAFFIC))
    half_hour = due_share(12 * 60 + 30, mall) - due_share(720, mall)
    assert half_hour == pytest.approx(MALL_HOURLY_TRAFFIC[12] / 2 / sum(MALL_HOURLY_TRAFFIC))
    flat = ChannelSettings(pacing_curve="flat")
    assert due_share(720, flat) == 0.5
    # the evening carries more of the mall's traffic than the night: more is due per evening hour
    evening = due_share(21 * 60, mall) - due_share(20 * 60, mall)
    assert evening > due_share(4 * 60, mall) - due_share(3 * 60, mall)


def test_the_gap_is_signed_relative_and_clipped() -> None:
    promise = np.array([500.0, 500.0, 500.0, 500.0])
    due = np.array([153.4, 153.4, 153.4, 0.0])
    gap = pace_gap(np.array([120.0, 260.0, 1000.0, 0.0]), due, promise)
    assert gap[0] == pytest.approx((153.4 - 120) / 153.4)
    assert gap[1] == pytest.approx((153.4 - 260) / 153.4)
    assert gap[2] == -1.0  # far ahead: clipped
    assert gap[3] == 0.0  # nothing due, nothing delivered: on pace


def test_the_report_lists_every_brand_with_its_override() -> None:
    settings = ChannelSettings(pacing_daily_promise=500, pacing_brand_promises={7: 1000})
    assert promise_of(np.array([3, 7]), settings).tolist() == [500.0, 1000.0]
    report = pacing_report(np.array([7, 3, 3]), {3: 120, 7: 600}, NOON_SHANGHAI, "Asia/Shanghai", settings)
    rows = {r["brand_id"]: r for r in report["brands"]}
    share = report["due_share"]
    assert set(rows) == {3, 7} and rows[7]["promise"] == 1000
    assert rows[3]["due"] == pytest.approx(500 * share, abs=0.1)
    assert rows[3]["pacing_error"] == pytest.approx((120 - 500 * share) / (500 * share), abs=1e-3)
    assert report["mean_abs_pacing_error"] == pytest.approx(
        (abs(rows[3]["pacing_error"]) + abs(rows[7]["pacing_error"])) / 2, abs=1e-3)


def _row(product: int, at_ms: int, channel: str | None = "subsidy", surface: str = "channel") -> dict:
    return {"surface": surface, "channel": channel, "product_id": product, "timestamp": at_ms}


def _counted(rows: list[dict]):
    """:func:`channel_counts` of ``rows`` as the live tail holds a poll's rows (columns)."""
    columns = RowColumns()
    columns.add_rows(rows)
    return channel_counts(columns)


def test_only_the_subsidy_channels_impressions_count_and_old_hours_go() -> None:
    counts = ChannelExposures()
    day = day_start_ms(NOON_SHANGHAI, "Asia/Shanghai")
    added = counts.add_counts(_counted([
        _row(1, NOON_SHANGHAI), _row(1, NOON_SHANGHAI + 1), _row(2, day - 1),
        _row(3, NOON_SHANGHAI, channel="category"), _row(4, NOON_SHANGHAI, None, "homepage"),
        {"surface": "channel", "channel": "subsidy", "product_id": "x", "timestamp": 1},
        {"surface": "channel", "channel": "subsidy", "product_id": 6}]))  # no timestamp: refused later
    assert added == 3
    assert counts.since(day) == {1: 2}  # product 2 was shown yesterday
    assert counts.since(day - HOUR_MS) == {1: 2, 2: 1}
    counts.add_counts(_counted([_row(5, NOON_SHANGHAI + KEEP_HOURS * HOUR_MS)]))
    assert min(counts.hours) > NOON_SHANGHAI // HOUR_MS, "hours older than the window are dropped"
    assert _counted([_row(9, 5)]) == {(0, 9): 1}


def test_subsidy_sessions_open_at_their_hours_for_their_length() -> None:
    settings = ChannelSettings(subsidy_session_hours=[6, 12, 18], subsidy_session_minutes=60)
    assert in_session(6 * 60, settings) == 6
    assert in_session(12 * 60 + 59, settings) == 12
    assert in_session(13 * 60, settings) is None
    assert in_session(5 * 60 + 59, settings) is None
    assert in_session(18 * 60 + 30, ChannelSettings(subsidy_session_minutes=20)) is None
