"""What a synonym set says: ``{"terms": ["phone", "手机", "smartphone"], "one_way": false, "reason": ...}``.

Two-way (the default): a query holding any of the terms also searches the others. One-way: a
query holding the first term also searches the rest, not the other way round ("phone" ->
"手机", "smartphone"; a query for "手机" is left alone). Terms may be in any script and may be
several words ("cordless drill"); they are matched on the query's words after the search's own
normalisation. The service adds ``id``, ``author`` and the times, as for rules.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from ranking.merchandising.rule import MAX_TEXT, Strict

MAX_TERMS = 50


class Synonym(Strict):
    """One synonym set (module docstring)."""

    terms: Annotated[list[Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]],
                     Field(min_length=2, max_length=MAX_TERMS)]
    one_way: bool = False
    reason: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
    id: str | None = None
    author: str | None = None
    created_ms: int | None = None
    updated_ms: int | None = None

    @model_validator(mode="after")
    def _distinct(self) -> Synonym:
        folded = [t.strip().casefold() for t in self.terms]
        if any(not t for t in folded):
            raise ValueError("a term is not blank")
        if len(set(folded)) != len(folded):
            raise ValueError("each term appears once")
        return self
