"""bench.lexical_rows --guess: a large catalog's top k from a guessed threshold against every row,
alternated query by query on one engine, each pair of results checked equal (and a pair that
differs is an error, not a reading)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench import lexical_rows
from ranking.recall import lexical, query_words
from ranking.recall.lexical import above_guess as guess
from ranking.settings import load_settings


@pytest.fixture(autouse=True)
def as_a_large_catalog(monkeypatch) -> None:
    """The small mall's 2,000 products read as a large catalog's: a guess from a 64-row sample
    (a stride of 31), the catalog-long sums always, and a top 20 (its queries hold far fewer than
    the default 500)."""
    monkeypatch.setattr(lexical, "GUESS_SAMPLE", 64)
    monkeypatch.setattr(query_words, "SPARSE_COST", 10 ** 12)
    monkeypatch.setattr(lexical_rows, "load_settings", lambda _: load_settings(["recall.candidates=20"]))


def test_the_guess_is_timed_against_every_row_and_kept_rows_for_some_queries(small_models: Path) -> None:
    got = lexical_rows.run(small_models / "latest", sets=300, queries=30, rounds=1, guess=True)
    assert got["queries"] > 10 and 0 < got["guessed"] <= got["queries"]
    assert got["guess_cpu_ms"] > 0 and got["every_row_cpu_ms"] > 0
    assert got["guess_p99_ms"] >= got["guess_p50_ms"] > 0
    assert lexical.GUESS_SAMPLE == 64 and lexical.above_guess is guess  # put back


def test_a_guess_that_changed_the_recall_fails_the_bench(small_models: Path, monkeypatch) -> None:

    def wrong(s, hit, k):  # the best row left out: a top k that differs
        got = guess(s, hit, k)
        if got is None:
            return None
        keep = np.arange(len(got[0])) != int(np.argmax(got[1]))
        return got[0][keep], got[1][keep]

    monkeypatch.setattr(lexical, "above_guess", wrong)
    with pytest.raises(AssertionError, match="changed the recall"):
        lexical_rows.run(small_models / "latest", sets=300, queries=30, rounds=1, guess=True)
    assert lexical.GUESS_SAMPLE == 64 and lexical.above_guess is wrong  # put back after the failure too
