"""What a merchandising rule says, and the checks a rule must pass before it is stored.

A rule is ``{"match": ..., "action": ..., "schedule": ..., "reason": ..., "priority": 0}``; the
service adds ``id``, ``author`` and ``created_ms`` / ``updated_ms``. Its JSON is the API's and
the export file's (``model_dump(mode="json", exclude_none=True)``).

* **match** — every field given must hold (AND), at least one field: ``query`` (the query
  exactly, after trimming), ``normalised_query`` (equal after :func:`ranking.text.normalise`-style
  folding: width, case, traditional/simplified, spaces), ``contains`` (the query holds this
  word), ``category_id`` (the request's category, leaf or top: a category page or a search
  filtered to it), ``surface`` (search, homepage or channel), ``homepage`` (shorthand for
  ``surface: homepage``).
* **action** — exactly one of: ``pin`` (product ids placed at ``at`` positions, 1-based, default
  1, 2, ...), ``hide`` (product ids removed), ``boost`` / ``bury`` (a :class:`RuleTarget` and
  ``by``, score units added to or taken from the model's score), ``filter`` (only a category's
  or a brand's products), ``redirect`` (a channel path or a category page the front end should
  open instead).
* **schedule** — ``start`` / ``end`` instants (either open), and optionally the mall's local
  ``hours`` ``[from, to)`` (wrapping midnight) or its time ``slots`` (morning, afternoon,
  evening: :mod:`ranking.mall_clock`).

When rules collide the order is: hide, then filter, then pins (a position goes to the higher
``priority``, then the more specific match, then the newer rule), then boosts and buries (they
add up), then redirect (the first in that order wins). The docs carry the same order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ranking.surfaces import Surface

ProductId = Annotated[int, Field(ge=0, le=2**53)]
Slot = Literal["morning", "afternoon", "evening"]
MAX_IDS = 100  # product ids one pin or hide may name
MAX_TEXT = 200  # characters of a query, word, brand or reason
ACTIONS = ("pin", "hide", "boost", "bury", "filter", "redirect")
Hour = Annotated[int, Field(ge=0, le=24)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleMatch(Strict):
    """Which requests a rule applies to (every field given must hold; at least one)."""

    query: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)] | None = None
    normalised_query: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)] | None = None
    contains: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)] | None = None
    category_id: Annotated[int, Field(ge=0)] | None = None
    surface: Surface | None = None
    homepage: bool = False

    @model_validator(mode="after")
    def _something(self) -> RuleMatch:
        if not any(v not in (None, False) for v in self.model_dump().values()):
            raise ValueError("a match needs at least one of query, normalised_query, contains, "
                             "category_id, surface, homepage")
        if self.homepage and self.surface not in (None, "homepage"):
            raise ValueError(f"homepage: true contradicts surface {self.surface!r}")
        return self


class RuleTarget(Strict):
    """The products a boost or bury moves (one of the fields)."""

    product_ids: Annotated[list[ProductId], Field(min_length=1, max_length=MAX_IDS)] | None = None
    brand: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)] | None = None
    category_id: Annotated[int, Field(ge=0)] | None = None
    store_id: Annotated[int, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _one(self) -> RuleTarget:
        given = [k for k, v in self.model_dump().items() if v is not None]
        if len(given) != 1:
            raise ValueError(f"a target names exactly one of product_ids, brand, category_id, store_id "
                             f"(got {given or 'none'})")
        return self


class Move(Strict):
    target: RuleTarget
    by: Annotated[float, Field(gt=0, le=100)]


class Only(Strict):
    """Keep only a category's or a brand's products (one of the two)."""

    category_id: Annotated[int, Field(ge=0)] | None = None
    brand: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)] | None = None

    @model_validator(mode="after")
    def _one(self) -> Only:
        if (self.category_id is None) == (self.brand is None):
            raise ValueError("a filter names exactly one of category_id, brand")
        return self


class Redirect(Strict):
    channel: Annotated[str, Field(min_length=1, max_length=MAX_TEXT, pattern=r"^/")] | None = None
    category_id: Annotated[int, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _one(self) -> Redirect:
        if (self.channel is None) == (self.category_id is None):
            raise ValueError("a redirect names exactly one of channel (a path), category_id")
        return self


class RuleAction(Strict):
    """What a rule does (exactly one action)."""

    pin: Annotated[list[ProductId], Field(min_length=1, max_length=MAX_IDS)] | None = None
    at: Annotated[list[Annotated[int, Field(ge=1, le=1000)]], Field(min_length=1, max_length=MAX_IDS)] \
        | None = None
    hide: Annotated[list[ProductId], Field(min_length=1, max_length=MAX_IDS)] | None = None
    boost: Move | None = None
    bury: Move | None = None
    filter: Only | None = None
    redirect: Redirect | None = None

    @property
    def kind(self) -> str:
        return next(k for k in ACTIONS if getattr(self, k) is not None)

    @model_validator(mode="after")
    def _one(self) -> RuleAction:
        given = [k for k in ACTIONS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"an action is exactly one of pin, hide, boost, bury, filter, redirect "
                             f"(got {given or 'none'})")
        if self.at is not None:
            if self.pin is None:
                raise ValueError("at (pin positions) goes with pin")
            if len(self.at) != len(self.pin) or len(set(self.at)) != len(self.at):
                raise ValueError("at gives one distinct position per pinned product")
        if self.pin is not None and len(set(self.pin)) != len(self.pin):
            raise ValueError("a product is pinned once")
        return self

    def pin_positions(self) -> list[int]:
        """1-based positions of ``pin`` (``at``, or 1, 2, ...)."""
        return list(self.at) if self.at is not None else list(range(1, len(self.pin or ()) + 1))


class RuleSchedule(Strict):
    """When a rule is in force: between ``start`` and ``end`` (open when left out), and inside the
    mall's local ``hours`` ``[from, to)`` or its ``slots`` when given (not both)."""

    start: datetime | None = None
    end: datetime | None = None
    hours: Annotated[list[Hour], Field(min_length=2, max_length=2)] | None = None
    slots: Annotated[list[Slot], Field(min_length=1, max_length=3)] | None = None

    @model_validator(mode="after")
    def _order(self) -> RuleSchedule:
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} needs a time zone (e.g. 2026-12-05T08:00:00+08:00)")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("end must come after start")
        if self.hours is not None and self.slots is not None:
            raise ValueError("give hours or slots, not both")
        if self.hours is not None and self.hours[0] == self.hours[1]:
            raise ValueError("hours [from, to) must differ (leave hours out for all day)")
        return self


class Rule(Strict):
    """One merchandising rule (module docstring). ``id``, ``author`` and the times are the
    service's: a body that sends them has them replaced."""

    match: RuleMatch
    action: RuleAction
    schedule: RuleSchedule = RuleSchedule()
    reason: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
    priority: Annotated[int, Field(ge=-1000, le=1000)] = 0
    id: str | None = None
    author: str | None = None
    created_ms: int | None = None
    updated_ms: int | None = None
