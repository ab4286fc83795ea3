"""bench.connection_spread: two real workers under wrk's 16 connections, the busier worker's share
sampled while wrk runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench import connection_spread


def test_each_run_samples_the_busier_workers_connections_while_wrk_runs(small_models: Path, capsys) -> None:
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (apt-get install wrk)")
    connection_spread.main([str(small_models / "latest"), "--runs", "1", "--seconds", "2"])
    run = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert run["run"] == 0 and run["rps"] > 0
    assert run["busier_worker"] and all(8 <= n <= 16 for n in run["busier_worker"])
    assert run["at_end"] == run["busier_worker"][-1]
    # balanced by the end (within the slack of 1 and one reconnect in flight): the balance is on;
    # tests/test_connection_balance.py holds its exact behaviour
    assert run["at_end"] <= 10
