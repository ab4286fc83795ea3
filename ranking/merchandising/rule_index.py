"""The rules of a book compiled into lookups by match key, and which ones a request is under.

Each rule is filed once under its most specific match key: the exact query (trimmed), the
normalised query (the search form of :func:`ranking.recall.tokenize.search_form`: width, case,
accents, traditional/simplified, spaces), the first word of ``contains`` (the search's own
tokens, so "drills" holds "drill" and "华为手机" holds "手机"), the category, the surface
(``homepage: true`` is the homepage surface). Matching a request reads the few keys the request
has (its query forms, its query's words, its category, its surface) and checks each rule
found against its other match fields and its schedule: a handful of dict lookups, whatever
the number of rules.

Schedule: ``start`` inclusive, ``end`` exclusive, against ``request.now_ms``; ``hours``
``[from, to)`` against the mall-local ``request.hour``, wrapping midnight when from > to
(``[22, 6)``: 22:00-05:59); ``slots`` against :func:`ranking.mall_clock.time_slot` of that hour.

Order (rule.py's docstring): hide, filter, pin, boost and bury, redirect; inside one action the
higher ``priority``, then the more specific match (:func:`specificity`), then the newer rule
(``updated_ms``, else ``created_ms``), then the id.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from ranking.bounded_memo import BoundedMemo
from ranking.mall_clock import time_slot
from ranking.merchandising.rule import ACTIONS, Rule
from ranking.recall.tokenize import search_form, tokenize

# the order actions are applied in; boost and bury share a rank (they add up)
ACTION_ORDER = {"hide": 0, "filter": 1, "pin": 2, "boost": 3, "bury": 3, "redirect": 4}
assert set(ACTION_ORDER) == set(ACTIONS)
# the mall's time slot of each local hour (ranking.mall_clock.time_slot, read once, not per request)
SLOT_OF_HOUR = tuple(str(time_slot(h)) for h in range(24))
# how specific each match field is: an exact query beats a word, a word a category, ...
# requests' rules in force kept per index (query, category, surface, hour: in_force.py)
KEPT = 4096
SPECIFICITY = {"query": 16, "normalised_query": 8, "contains": 4, "category_id": 2, "surface": 1,
               "homepage": 1}


def specificity(rule: Rule) -> int:
    """The sum of the match fields' weights (:data:`SPECIFICITY`): more fields, narrower rule."""
    m = rule.match
    given = {k for k in SPECIFICITY if getattr(m, k) not in (None, False)}
    if m.homepage and m.surface == "homepage":
        given.discard("surface")
    return sum(SPECIFICITY[k] for k in given)


def importance(rule: Rule) -> tuple:
    """The conflict order inside one action (sort ascending): the higher ``priority``, then the
    more specific match, then the newer rule (``updated_ms``, else ``created_ms``), then the id."""
    newer = rule.updated_ms if rule.updated_ms is not None else (rule.created_ms or 0)
    return (-rule.priority, -specificity(rule), -newer, rule.id or "")


def schedule_in_force(start_ms: int | None, end_ms: int | None, hours: Sequence[int] | None,
                      slots: Collection[str] | None, now_ms: int, hour: int) -> bool:
    """A schedule's reading at ``now_ms`` and the mall's local ``hour``: ``start`` inclusive, ``end``
    exclusive, ``hours`` ``[from, to)`` wrapping midnight, ``slots`` by :data:`SLOT_OF_HOUR`."""
    if start_ms is not None and now_ms < start_ms:
        return False
    if end_ms is not None and now_ms >= end_ms:
        return False
    if hours is not None:
        lo, hi = hours
        inside = lo <= hour < hi if lo < hi else (hour >= lo or hour < hi)
        if not inside:
            return False
    return slots is None or SLOT_OF_HOUR[hour % 24] in slots


def epoch_ms(value: object) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class CompiledRule:
    """A rule with what matching needs precomputed."""

    rule: Rule
    order: tuple
    query: str | None
    normalised: str | None
    words: frozenset[str]
    category_id: int | None
    surface: str | None
    start_ms: int | None
    end_ms: int | None
    hours: tuple[int, int] | None
    slots: frozenset[str] | None

    @classmethod
    def of(cls, rule: Rule) -> CompiledRule:
        m, s = rule.match, rule.schedule
        return cls(rule, (ACTION_ORDER[rule.action.kind], *importance(rule)),
                   m.query.strip() if m.query is not None else None,
                   search_form(m.normalised_query) if m.normalised_query is not None else None,
                   frozenset(tokenize(m.contains)) if m.contains is not None else frozenset(),
                   m.category_id, "homepage" if m.homepage else m.surface,
                   epoch_ms(s.start), epoch_ms(s.end),
                   tuple(s.hours) if s.hours is not None else None,
                   frozenset(s.slots) if s.slots is not None else None)

    def key(self) -> tuple:
        """The most specific key this rule is filed under."""
        if self.query is not None:
            return ("query", self.query)
        if self.normalised is not None:
            return ("normalised", self.normalised)
        if self.words:
            return ("word", min(self.words))
        if self.category_id is not None:
            return ("category", self.category_id)
        return ("surface", self.surface)

    def in_force(self, now_ms: int, hour: int) -> bool:
        return schedule_in_force(self.start_ms, self.end_ms, self.hours, self.slots, now_ms, hour)

    def holds(self, view: RequestView) -> bool:
        """Every match field given holds for the request."""
        return ((self.query is None or self.query == view.query)
                and (self.normalised is None or self.normalised == view.normalised)
                and self.words <= view.words
                and (self.category_id is None or self.category_id == view.category_id)
                and (self.surface is None or self.surface == view.surface))


@dataclass(frozen=True)
class RequestView:
    """The keys of one request that rules match on."""

    query: str | None
    normalised: str | None
    words: frozenset[str]
    category_id: int | None
    surface: str

    @classmethod
    def of(cls, request: object) -> RequestView:
        raw = getattr(request, "query", None)
        query = raw.strip() if raw else None
        return cls(query or None, search_form(query) if query else None,
                   frozenset(tokenize(query)) if query else frozenset(),
                   getattr(request, "category_id", None), str(getattr(request, "surface", "")))

    def match_keys(self) -> list[tuple]:
        keys: list[tuple] = [("surface", self.surface)]
        if self.query is not None:
            keys += [("query", self.query), ("normalised", self.normalised)]
            keys += [("word", w) for w in self.words]
        if self.category_id is not None:
            keys.append(("category", self.category_id))
        return keys


class RuleIndex:
    """A book's rules by match key (module docstring); built once per book."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.by_key: dict[tuple, list[CompiledRule]] = {}
        # what :func:`ranking.merchandising.in_force.rules_in_force` keeps per request key
        self.kept: BoundedMemo[tuple, tuple] = BoundedMemo(KEPT)
        for rule in rules:
            compiled = CompiledRule.of(rule)
            self.by_key.setdefault(compiled.key(), []).append(compiled)
        self.size = len(rules)

    def __len__(self) -> int:
        return self.size

    def matching(self, request: object) -> list[Rule]:
        """The rules in force now for ``request`` (a :class:`~ranking.pipeline.RankRequest`), in
        the documented order (module docstring)."""
        return self.matching_span(request)[0]

    def matching_span(self, request: object) -> tuple[list[Rule], float, float]:
        """:meth:`matching`, and the span ``[since, until)`` of ``now_ms`` over which the same
        request at the same ``hour`` is under the same rules: between the nearest ``start`` /
        ``end`` instants of the rules matching it (a schedule's reading changes only there;
        ``-inf`` / ``inf`` when none bounds it)."""
        if not self.by_key:
            return [], -math.inf, math.inf
        view = RequestView.of(request)
        now_ms, hour = int(getattr(request, "now_ms", 0)), int(getattr(request, "hour", 0))
        held = [c for key in view.match_keys() for c in self.by_key.get(key, ()) if c.holds(view)]
        found = [c for c in held if c.in_force(now_ms, hour)]
        found.sort(key=lambda c: c.order)
        since, until = -math.inf, math.inf
        for c in held:
            for instant in (c.start_ms, c.end_ms):
                if instant is None:
                    continue
                if instant <= now_ms:
                    since = max(since, instant)
                else:
                    until = min(until, instant)
        return [c.rule for c in found], since, until
