"""bench.merch_rules: ``--requests`` sets how many searches and homepages each arm ranks, and the
default draw stays what bench.speed reads its search bodies from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench import merch_rules
from ranking.engine import Engine
from ranking.settings import load_settings


def test_the_count_is_a_parameter_and_the_default_draw_is_unchanged(small_models: Path) -> None:
    engine = Engine.load(small_models / "latest", load_settings([]))
    try:
        words = merch_rules.frequent_words(engine)
        default, many = merch_rules.requests(engine, words), merch_rules.requests(engine, words, count=900)
        assert [len(default[s]) for s in ("search", "homepage")] == [merch_rules.REQUESTS] * 2
        assert [len(many[s]) for s in ("search", "homepage")] == [900, 900]
        # the default draw pinned independently of requests(): seed 7's first 400 Zipf draws, in order
        # (bench.speed's search bodies are its first 200: a default of another count would change them)
        zipf = np.minimum(np.random.default_rng(7).zipf(1.3, 400) - 1, len(words) - 1)
        assert merch_rules.REQUESTS == 400
        assert [b["query"] for b in default["search"]] == [words[z] for z in zipf]
        # bench.speed's search bodies are the default draw's first 200: a larger count draws the same
        # queries first but the filters and shoppers after all of them, so it is never the default
        assert [b["query"] for b in many["search"][:400]] == [b["query"] for b in default["search"]]
    finally:
        engine.close()


def test_the_command_passes_its_count(monkeypatch, tmp_path: Path) -> None:
    got = []
    monkeypatch.setattr(merch_rules, "run", lambda bundle, count: got.append((bundle, count)) or {"ok": 1})
    out = str(tmp_path / "o.json")
    monkeypatch.setattr("sys.argv", ["merch_rules", "B", "--out", out, "--requests", "1000"])
    merch_rules.main()
    assert got == [(Path("B"), 1000)] and (tmp_path / "o.json").read_text().strip().startswith("{")


def test_a_count_below_one_is_refused_with_the_reason(monkeypatch, tmp_path: Path, capsys) -> None:
    monkeypatch.setattr(merch_rules, "run", lambda *a: pytest.fail("nothing may run"))
    out = str(tmp_path / "o.json")
    monkeypatch.setattr("sys.argv", ["merch_rules", "B", "--out", out, "--requests", "0"])
    with pytest.raises(SystemExit) as exited:
        merch_rules.main()
    assert exited.value.code == 2 and "--requests must be at least 1, not 0" in capsys.readouterr().err
