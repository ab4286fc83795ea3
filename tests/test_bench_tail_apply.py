"""bench.tail_apply: the live tail applies every card of the exposure lines it writes."""

from __future__ import annotations

import json
import sys

from bench import tail_apply


def test_every_card_of_every_batch_is_applied_and_timed(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["tail_apply", "--pages", "250", "--batch", "50"])
    tail_apply.main()
    out = json.loads(capsys.readouterr().out)
    assert out["batches"] == 2 and out["rows_per_batch"] == 1000  # 5 batches, the first 3 left out as warm-up
    assert 0 < out["ms_per_batch_p50"] <= out["ms_per_batch_max"]


def test_the_apply_under_the_lock_is_timed_in_each_round(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["tail_apply", "--pages", "250", "--batch", "50", "--shoppers", "50",
                                      "--rounds", "2"])
    tail_apply.main()
    out = json.loads(capsys.readouterr().out)
    assert out["rows_per_batch"] == 1000 and len(out["rounds"]) == 2
    for r in (*out["rounds"], out["lowest"]):
        assert 0 < r["ms_apply_locked_p50"] < r["ms_per_batch_p50"] <= r["ms_per_batch_max"]
        assert r["ms_apply_locked_p50"] <= r["ms_hold_max"] < r["ms_per_batch_max"]
    assert out["lowest"]["ms_apply_locked_p50"] == min(r["ms_apply_locked_p50"] for r in out["rounds"])
