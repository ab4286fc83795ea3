"""The operator's rules in force for one request, found once and shared by the pipeline's stages.

The merchandising filter (hide, filter), the pinned candidates, the pinned slots, the boost and
bury adjuster and the page's report all read :func:`rules_in_force`: the request's book
(``RankRequest.merchandising``) asked once (``book.rule_index.matching``), kept in
``request.hydrated`` for the request's other stages. No book, an empty one, or no rule matching:
``None``, and every stage returns at once (a page without rules costs one dict read).

At most ``merchandising.max_rules_per_request`` rules apply: the most important by priority, then
specificity, then newer (the conflict order without the action's rank); the rest are counted in
``skipped``. Each rule's effect on a page names the rule (:data:`REASON_PREFIX` in ``dropped``,
``rule_id`` in a card's note), so the page's ``rules_applied`` is read back from what it shows.

:func:`schedule_holds` is one schedule's reading at a moment (the STORE part's ``GET
/v1/rules?active=true``), the same reading the index applies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ranking.merchandising.rule import ACTIONS, Rule, RuleSchedule
from ranking.merchandising.rule_index import epoch_ms, importance, schedule_in_force
from ranking.settings import MerchandisingSettings

KEY = "merchandising"
STAGE = "merchandising"  # the ``stage`` of every dropped entry a rule makes
REASON_PREFIX = "rule_"  # dropped reasons: rule_hide:<id>, rule_filter:<id>, rule_pin:<id>:<why>


@dataclass(frozen=True)
class RulesInForce:
    """The rules applied to one request, in the conflict order, and how many were skipped."""

    rules: tuple[Rule, ...]
    skipped: int = 0
    _by_kind: dict[str, tuple[Rule, ...]] = field(default_factory=dict, compare=False)
    derived: dict = field(default_factory=dict, compare=False)  # what stages derive once (the pins)

    def __post_init__(self) -> None:
        by_kind: dict[str, list[Rule]] = {k: [] for k in ACTIONS}
        for r in self.rules:
            by_kind[r.action.kind].append(r)
        self._by_kind.update({k: tuple(v) for k, v in by_kind.items()})
        self._by_kind["boost+bury"] = tuple(r for r in self.rules if r.action.boost or r.action.bury)
        self._by_kind["hide+filter"] = self._by_kind["hide"] + self._by_kind["filter"]

    def of(self, *kinds: str) -> tuple[Rule, ...]:
        """This request's rules of these actions (one, or ``"boost", "bury"`` / ``"hide", "filter"``),
        in the conflict order."""
        return self._by_kind["+".join(kinds)]


def rule_name(rule: Rule) -> str:
    """How a page names a rule: its id (a draft without one: ``draft``)."""
    return rule.id if rule.id is not None else "draft"


def rules_in_force(request: object, settings: MerchandisingSettings | None = None) -> RulesInForce | None:
    """The request's rules in force (module docstring), found once per request and book."""
    book = getattr(request, "merchandising", None)
    hydrated: dict = getattr(request, "hydrated", {})
    cached = hydrated.get(KEY)
    if cached is not None and cached[0] is book:
        return cached[1]
    found = None
    if book is not None and book.rules:
        matched = book.rule_index.matching(request)
        limit = (settings or MerchandisingSettings()).max_rules_per_request
        skipped = max(0, len(matched) - limit)
        if skipped:
            kept = {id(r) for r in sorted(matched, key=importance)[:limit]}
            matched = [r for r in matched if id(r) in kept]
        found = RulesInForce(tuple(matched), skipped) if matched else None
    hydrated[KEY] = (book, found)
    return found


def schedule_holds(schedule: RuleSchedule, now_ms: int, hour: int) -> bool:
    """Whether ``schedule`` is in force at ``now_ms`` (UTC epoch ms) and the mall's local ``hour``:
    what ``GET /v1/rules?active=true`` lists, read exactly as :class:`RuleIndex` reads it
    (:func:`ranking.merchandising.rule_index.schedule_in_force`)."""
    return schedule_in_force(epoch_ms(schedule.start), epoch_ms(schedule.end), schedule.hours,
                             schedule.slots, now_ms, hour)
