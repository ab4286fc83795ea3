"""The commands' time options (shelfrank/context.py): ISO dates or times, naive ones in UTC, a bad
one a usage error naming the option."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import typer

from shelfrank.context import iso_time, iso_time_ms


def test_a_naive_time_is_utc_and_an_offset_is_honoured():
    assert iso_time_ms("2026-09-20", "--at") == int(datetime(2026, 9, 20, tzinfo=UTC).timestamp() * 1000)
    assert iso_time_ms("2026-09-20T08:00:00+08:00", "--at") == iso_time_ms("2026-09-20T00:00:00", "--at")
    assert iso_time("2026-09-20T08:00:00+08:00", "--as-of").tzinfo == timezone(timedelta(hours=8))
    assert iso_time(None, "--as-of") is None and iso_time_ms(None, "--at") is None


def test_a_bad_time_is_a_usage_error_naming_the_option():
    with pytest.raises(typer.BadParameter, match="not an ISO date or time: 'yesterday'") as err:
        iso_time_ms("yesterday", "--at")
    assert err.value.param_hint == "--at"
