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
    # samples were taken while wrk ran: the busier of two holds at least half of the 16 once all
    # are open (not at every sample: wrk may still be opening them at the first, and a reconnect in
    # flight leaves 15 or 14)
    assert run["busier_worker"] and max(run["busier_worker"]) >= 8
    assert all(n <= 16 for n in run["busier_worker"])
    assert run["at_end"] == run["busier_worker"][-1]
    # balanced in the run's second half (within the slack of 1 and one reconnect in flight): the
    # balance is on. Not the last sample alone: each connection closed reconnects and lands on either
    # worker, so on a loaded machine a sample can catch two or three landed back on the busier one
    # before it closes them again (CI read 11 once). tests/test_connection_balance.py holds its exact
    # behaviour.
    later = run["busier_worker"][len(run["busier_worker"]) // 2:]
    assert min(later) <= 10, run["busier_worker"]
