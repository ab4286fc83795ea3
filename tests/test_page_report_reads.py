"""What the page report reads (``ranking.merchandising.page_report``): the pinned positions from
the pinned products' notes only, so the other cards' note lists are not made for it."""

from __future__ import annotations

import numpy as np
from rules_mall import rules_request, rules_snapshot, scored

from ranking.merchandising.book import MerchandisingBook
from ranking.merchandising.in_force import rules_in_force
from ranking.merchandising.page_report import report_page
from ranking.merchandising.rule import Rule


def _pin(id: str, product: int, at: int) -> Rule:
    return Rule.model_validate({"match": {"query": "rice"}, "action": {"pin": [product], "at": [at]},
                                "reason": f"why {id}", "id": id})


def test_the_pinned_positions_come_from_the_pinned_cards_notes_alone() -> None:
    snap = rules_snapshot()
    found = rules_in_force(rules_request(query="rice", merchandising=MerchandisingBook((
        _pin("p", 120, 3), _pin("q", 125, 6)))))
    c = scored(snap)
    page = c.take(np.array([0, 1, 20, 2, 3, 25, 4, 5]))
    for at, rule in ((2, "p"), (5, "q")):  # as the pinned slots note the products they placed
        page.rule_notes[at].append({"rule": "merch_pin", "rule_id": rule, "position": at + 1, "why": "x"})
    report_page(found, c, page, [], len(page), 10)
    assert [n["rule"] for n in page.rule_notes[3]] == ["merch_pinned_above"]
    assert page.rule_notes[3][0]["rule_ids"] == ["p"] and page.rule_notes[6][0]["rule_ids"] == ["p", "q"]
    assert 0 not in page.rule_notes._lists  # above every pin and not pinned: its list never made
