"""The operator's rules in force for one request, found once and shared by the pipeline's stages.

The merchandising filter (hide, filter), the pinned candidates, the pinned slots, the boost and
bury adjuster and the page's report all read :func:`rules_in_force`: the request's book
(``RankRequest.merchandising``) asked once (``book.rule_index.matching``), kept in
``request.hydrated`` for the request's other stages. No book, an empty one, or no rule matching:
``None``, and every stage returns at once (a page without rules costs one dict read).

What matched is kept across requests in the book's index (``RuleIndex.kept``) per query,
category, surface, mall-local hour and rule limit, with the span of ``now_ms`` it holds over (up
to the nearest ``start`` or ``end`` of a rule matching the request: :meth:`RuleIndex.matching_span`),
so a rule starting or ending takes effect on the next page; a new book has a new index, so a
rule change is matched afresh. A head query's request is matched once, not per page.

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
from ranking.merchandising.rule_index import RuleIndex, epoch_ms, importance, schedule_in_force
from ranking.settings import MerchandisingSettings

KEY = "merchandising"
STAGE = "merchandising"  # the ``stage`` of every dropped entry a rule makes
REASON_PREFIX = "rule_"  # dropped reasons: rule_hide:<id>, rule_filter:<id>, rule_pin:<id>:<why>


@dataclass(frozen=True)
class RulesInForce:
    """The rules applied to one request, in the conflict order, and how many were skipped.

    ``shared`` holds what every request under the same rules derives alike (the rules by action,
    the pins, the moves), made once and shared by the requests the index's memo serves (read by
    many request threads: only ever filled, each value whole in one assignment); ``derived`` is
    this request's own (the pin plan of its candidates: :meth:`for_request` gives a fresh one)."""

    rules: tuple[Rule, ...]
    skipped: int = 0
    shared: dict = field(default_factory=dict, compare=False)
    derived: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if "kinds" in self.shared:
            return
        by_kind: dict[str, list[Rule]] = {k: [] for k in ACTIONS}
        for r in self.rules:
            by_kind[r.action.kind].append(r)
        kinds = {k: tuple(v) for k, v in by_kind.items()}
        kinds["boost+bury"] = tuple(r for r in self.rules if r.action.boost or r.action.bury)
        kinds["hide+filter"] = kinds["hide"] + kinds["filter"]
        self.shared["kinds"] = kinds

    def of(self, *kinds: str) -> tuple[Rule, ...]:
        """This request's rules of these actions (one, or ``"boost", "bury"`` / ``"hide", "filter"``),
        in the conflict order."""
        return self.shared["kinds"]["+".join(kinds)]

    def for_request(self) -> RulesInForce:
        """The same rules for another request: ``shared`` shared, ``derived`` its own."""
        return RulesInForce(self.rules, self.skipped, self.shared)


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
        found = _kept(book.rule_index, request, (settings or MerchandisingSettings()).max_rules_per_request)
        found = found.for_request() if found is not None else None
    hydrated[KEY] = (book, found)
    return found


def _kept(index: RuleIndex, request: object, limit: int) -> RulesInForce | None:
    """The rules in force for the request's query, category, surface and hour, kept in the
    index's memo (``index.kept``) with the span of ``now_ms`` they hold over
    (:meth:`RuleIndex.matching_span`): a request outside the span is matched again."""
    now_ms = int(getattr(request, "now_ms", 0))
    key = (getattr(request, "query", None), getattr(request, "category_id", None),
           getattr(request, "surface", ""), int(getattr(request, "hour", 0)), limit)
    held = index.kept.get(key)
    if held is not None and held[0] <= now_ms < held[1]:
        return held[2]
    matched, since, until = index.matching_span(request)
    skipped = max(0, len(matched) - limit)
    if skipped:
        kept = {id(r) for r in sorted(matched, key=importance)[:limit]}
        matched = [r for r in matched if id(r) in kept]
    found = RulesInForce(tuple(matched), skipped) if matched else None
    index.kept.put(key, (since, until, found))
    return found


def schedule_holds(schedule: RuleSchedule, now_ms: int, hour: int) -> bool:
    """Whether ``schedule`` is in force at ``now_ms`` (UTC epoch ms) and the mall's local ``hour``:
    what ``GET /v1/rules?active=true`` lists, read exactly as :class:`RuleIndex` reads it
    (:func:`ranking.merchandising.rule_index.schedule_in_force`)."""
    return schedule_in_force(epoch_ms(schedule.start), epoch_ms(schedule.end), schedule.hours,
                             schedule.slots, now_ms, hour)
