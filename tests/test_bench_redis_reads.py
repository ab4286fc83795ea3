"""bench.redis_reads: a Redis-backed page's two live reads timed in the client's CPU, on a private
redis-server it starts itself."""

from __future__ import annotations

import json
import shutil

import pytest

from bench import redis_reads


def test_the_reads_are_timed_on_a_private_server_and_say_whether_hiredis_parsed(capsys) -> None:
    if shutil.which("redis-server") is None:
        from redis_server import MISSING

        pytest.skip(MISSING)
    redis_reads.main(["--events", "300", "--products", "200", "--pages", "3", "--candidates", "50"])
    out = json.loads(capsys.readouterr().out)
    assert out["candidates"] == 50 and out["hiredis"] is True  # a dependency since stop 51
    assert 0 < out["product_signals_cpu_ms"] < 1000 and 0 < out["shopper_view_cpu_ms"] < 1000
    assert 0 < out["roll_totals_cpu_ms"] < 1000 and 0 < out["roll_totals_wall_ms"] < 1000
