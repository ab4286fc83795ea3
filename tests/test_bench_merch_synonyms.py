"""bench.merch_synonyms: every arm ranks on its own engine, so nothing one arm keeps (a query's
relevance dots per product, its words) serves another arm's pages; the first-time arms keep no
search recall, the repeated ones keep it as the service does and measure each query's second page."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

from bench import merch_synonyms
from ranking.engine import Engine


def test_each_arm_ranks_on_its_own_engine(small_models: Path, monkeypatch) -> None:
    loaded, ranked = [], {}
    load, rank = Engine.load, Engine.rank

    def counting_load(*args, **kwargs):
        engine = load(*args, **kwargs)
        loaded.append(engine)
        return engine

    def counting_rank(self, pipeline, request, *args, **kwargs):
        if len(loaded) < 3:  # an engine's own warm-up while it loads
            return rank(self, pipeline, request, *args, **kwargs)
        arm = "none" if request.merchandising is None else \
            ("idle" if request.merchandising.synonyms[0].id.startswith("tail") else "synonyms")
        ranked.setdefault(arm, set()).add(id(self))
        return rank(self, pipeline, request, *args, **kwargs)

    monkeypatch.setattr(Engine, "load", counting_load)
    monkeypatch.setattr(Engine, "rank", counting_rank)
    got = merch_synonyms.run(small_models / "latest", sets=300, queries=12, repeated=False)
    assert len(loaded) == 3
    assert {arm: len(seen) for arm, seen in ranked.items()} == {"none": 1, "idle": 1, "synonyms": 1}
    assert len(set().union(*ranked.values())) == 3  # three engines, one an arm
    assert got["none_queries_fired"] == got["idle_queries_fired"] == 0 < got["synonyms_queries_fired"]
    assert got["queries"] == 12 and got["synonyms_p99_ms"] > 0 and got["lexical_synonyms_50_ms"] > 0


def test_the_repeated_arms_keep_recall_and_measure_each_query_again(small_models: Path, monkeypatch) -> None:
    loaded, measured, alive_at_load = [], [], []
    load, measure = Engine.load, merch_synonyms.measure

    def counting_load(bundle, settings, *args, **kwargs):
        gc.collect()  # the engines still referenced by anything when this one loads
        alive_at_load.append(sum(ref() is not None for ref in loaded_refs))
        loaded.append(settings.recall.search_results_kept)
        engine = load(bundle, settings, *args, **kwargs)
        loaded_refs.append(weakref.ref(engine))
        return engine

    def recording_measure(engines, queries, books):
        kept = {e.settings.recall.search_results_kept for e in engines.values()}
        measured.append((tuple(queries), kept))
        return {**measure(engines, queries, books), "pass": len(measured)}

    loaded_refs: list[weakref.ref] = []
    drawn, draw = [], merch_synonyms.synonym_sets
    monkeypatch.setattr(Engine, "load", counting_load)
    monkeypatch.setattr(merch_synonyms, "measure", recording_measure)
    monkeypatch.setattr(merch_synonyms, "synonym_sets", lambda *a: drawn.append(1) or draw(*a))
    got = merch_synonyms.run(small_models / "latest", sets=300, queries=12)
    default = merch_synonyms.load_settings([]).recall.search_results_kept
    assert loaded == [0, 0, 0, default, default, default]  # the first-time arms, then the repeated
    assert alive_at_load == [0, 1, 2, 0, 1, 2], "the first-time engines released before the next load"
    assert drawn == [1], "the firing book is built once for both phases"
    warm, first, warm_again, repeated_once, repeated_again = measured  # each phase warmed first
    assert warm[0] == warm_again[0] and not set(warm[0]) & set(first[0]), "warmed on other queries"
    assert first[1] == {0} and repeated_once[1] == repeated_again[1] == {default}
    assert first[0] == repeated_once[0] == repeated_again[0], "the same queries every time"
    assert got["pass"] == 2 and got["repeated_pass"] == 5, "the second pass is the one reported"
    assert got["repeated_synonyms_queries_fired"] == got["synonyms_queries_fired"] > 0
    assert got["repeated_none_queries_fired"] == 0 and "repeated_queries" not in got
    assert got["repeated_distinct_queries"] == len(set(first[0]))


def test_more_queries_than_the_kept_recall_are_skipped_with_the_reason(monkeypatch) -> None:
    monkeypatch.setattr(merch_synonyms, "load_settings", lambda sets: type(
        "S", (), {"recall": type("R", (), {"search_results_kept": 3})()})())
    monkeypatch.setattr(merch_synonyms, "_arms", None)  # no engine may load for a skipped pass
    got = merch_synonyms._repeated(Path("B"), 10, ["a", "b", "a"], ["c", "d"], held_terms=False)
    assert got == {"repeated_skipped": "4 distinct queries with the warm-up's, more than "
                                       "recall.search_results_kept (3): none would be found kept"}
