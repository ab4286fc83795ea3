"""bench.recall_stage --first-time: the homepage recall's shopper memos emptied before each call."""

from __future__ import annotations

from homepage_mall import tiny_recall

from bench.recall_stage import forgetting, shopper_memos
from ranking.recall.bundle_part import HomepageSource


class _Engine:
    def __init__(self, pipelines: dict) -> None:
        self.pipelines = pipelines


class _Pipeline:
    def __init__(self, sources: list) -> None:
        self.sources = sources


def test_first_time_calls_find_every_shopper_memo_empty():
    recall = tiny_recall()
    sources = [HomepageSource(name, recall) for name in ("personal", "similar")]
    memos = shopper_memos(_Engine({"homepage": _Pipeline(sources)}))
    names = {type(c).__name__ for c in recall.components for m in vars(c).values() if m in memos}
    assert recall.shopper.kept in memos and {"Personal", "Similar"} <= names
    recall.context(107, 14)
    seen = []
    step = forgetting(memos, lambda item: seen.append(sum(len(m) for m in memos)) or recall.context(item, 14))
    step(107)
    step(108)
    assert seen == [0, 0]  # each call a first time: nothing kept from the call before
    assert forgetting([], len) is len  # nothing to forget: the step as it is
