"""bench.merch_synonyms: every arm ranks on its own engine, so nothing one arm keeps (a query's
relevance dots per product, its words) serves another arm's pages."""

from __future__ import annotations

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
    got = merch_synonyms.run(small_models / "latest", sets=300, queries=12)
    assert len(loaded) == 3
    assert {arm: len(seen) for arm, seen in ranked.items()} == {"none": 1, "idle": 1, "synonyms": 1}
    assert len(set().union(*ranked.values())) == 3  # three engines, one an arm
    assert got["none_queries_fired"] == got["idle_queries_fired"] == 0 < got["synonyms_queries_fired"]
    assert got["queries"] == 12 and got["synonyms_p99_ms"] > 0 and got["lexical_synonyms_50_ms"] > 0
