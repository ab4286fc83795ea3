"""The page report's notes on the placed cards (``merch_pinned_above`` and each filter rule's
``merch_filter``), added in bulk: each card's notes the same, in the same order, as made and
appended card by card."""

from __future__ import annotations

import numpy as np

from ranking.merchandising.in_force import RulesInForce
from ranking.pipeline.candidates import CandidateSet


def _card_by_card(n: int, pinned_at: dict[int, str], filters: list[dict], before: list[list[dict]]
                  ) -> list[list[dict]]:
    """The notes as the report made them one card at a time."""
    out = [list(notes) for notes in before]
    above, ids = 0, []
    for i in range(n):
        position = i + 1
        if position in pinned_at:
            above += 1
            ids = sorted({*ids, pinned_at[position]})
        elif above:
            out[i].append({"rule": "merch_pinned_above", "rule_ids": list(ids),
                           "why": f"{above} pinned card{'s' if above > 1 else ''} above moved it down"})
        out[i].extend(dict(f) for f in filters)
    return out


def test_pinned_above_and_filter_notes_are_each_cards_as_made_card_by_card():
    from ranking.merchandising.page_report import _note_page  # after the pipeline (a circular import)

    rng = np.random.default_rng(3)
    for _ in range(300):
        n = int(rng.integers(0, 25))
        positions = rng.choice(np.arange(1, 30), int(rng.integers(0, 6)), replace=False).tolist()
        pinned_at = {int(p): f"r{int(rng.integers(0, 4))}" for p in positions}  # some past the page
        filters = [{"rule": "merch_filter", "rule_id": f"f{j}", "why": f"only {j}"}
                   for j in range(int(rng.integers(0, 3)))]
        before = [[{"rule": "x", "why": str(i)}] if rng.random() < 0.3 else [] for i in range(n)]
        page = CandidateSet(np.arange(n, dtype=np.int64), rule_notes=[list(b) for b in before])
        found = RulesInForce((), shared={"report": {"filters": filters}})
        _note_page(found, page, pinned_at)
        page.rule_notes[0:n]  # every list read, as the cards and explanations read them
        assert [list(page.rule_notes[i]) for i in range(n)] == _card_by_card(n, pinned_at, filters, before)
        if n > 1 and filters:
            page.rule_notes[0][-1]["why"] = "changed"  # copies of the rule's note: the rule's own is kept
            assert filters[-1]["why"] != "changed"
