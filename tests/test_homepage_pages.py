"""The homepage sources return what they returned before they became components.

``tests/data/homepage_sources_golden.json`` holds, for a tiny synthetic mall
(:mod:`homepage_mall`, no simulator), every source's ids and the fused list for seven
shoppers (one unknown) at three hours, as ``HomepageRecall.sources`` and ``merged`` gave
them at commit 14c3c18, before the ten ``if`` branches became ten source classes.
"""

from __future__ import annotations

import json
from pathlib import Path

from homepage_mall import golden_outputs, tiny_recall

GOLDEN = Path(__file__).parent / "data" / "homepage_sources_golden.json"


def test_homepage_sources_and_merged_list_equal_the_pre_component_output():
    expected = json.loads(GOLDEN.read_text())
    got = golden_outputs(tiny_recall())
    assert got.keys() == expected.keys()
    for key in expected:
        assert got[key] == expected[key], key
        assert list(got[key]) == list(expected[key]), f"{key}: sources listed in another order"


def test_the_golden_mall_exercises_every_source():
    expected = json.loads(GOLDEN.read_text())
    named = {name for per in expected.values() for name in per}
    assert named == {"recently_viewed", "personal", "similar", "trending", "top_categories",
                     "recent_categories", "subsidy", "theme", "repurchase", "new_stores", "merged"}
