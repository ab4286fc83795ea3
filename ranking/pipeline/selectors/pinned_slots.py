"""Pinned slots: the operator's pins take their positions before any other selector fills the page.

Runs first in :func:`~ranking.pipeline.selectors.default_selectors`, so a pin wins over a
requested subsidy slot, an exploration slot, the fold floor and the shelf spread's caps (the
operator asked for this card here). Which pin gets which position is
:func:`ranking.merchandising.pins.plan_pins` (conflict order, ``merchandising.max_pins_per_page``);
each placed card says so in ``explain`` (``merch_pin``, with the rule's id, the position and
its reason). No pin in force: nothing happens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.merchandising.in_force import rule_name, rules_in_force
from ranking.merchandising.pins import plan_pins
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.selectors.draft import PageDraft
from ranking.settings import MerchandisingSettings


@dataclass
class PinnedSlots:
    """Pins in force for the request, placed at their positions (module docstring)."""

    settings: MerchandisingSettings | None = None
    name: str = "merch_pin"

    def fill(self, page: PageDraft, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot,
             rng: np.random.Generator) -> None:
        found = rules_in_force(request, self.settings)
        if found is None or not found.of("pin"):
            return
        max_pins = (self.settings or MerchandisingSettings()).max_pins_per_page
        for pin, row in plan_pins(found, cands.product_ids, page.size, max_pins).placed:
            if not page.is_open(pin.position) or page.used[row]:
                continue
            page.put(pin.position - 1, row)
            cands.rule_notes[row].append({"rule": self.name, "rule_id": rule_name(pin.rule),
                                          "position": pin.position, "why": pin.rule.reason})
