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
