"""The operator console's preview: its body, its answer and the examples its OpenAPI page shows.

``POST /v1/rules/preview`` takes ``{"surface", "request", "draft", "draft_synonym", "without"}``:
the shopper's search or homepage body exactly as ``/v1/search`` or ``/v1/homepage`` take it,
and the change to try (a draft rule, a draft synonym set, ids of rules or sets left out). It
answers both pages (:class:`serving.schemas.RankingResponse`, explained) and what moved.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ranking.merchandising.rule import Rule
from ranking.merchandising.synonym import Synonym
from serving.api_examples import CARD, PAGE
from serving.schemas import RankingResponse

MAX_WITHOUT = 1000  # ids one preview may leave out (the book's rule limit is the real bound)


class PreviewRequest(BaseModel):
    """A shopper's request ranked with the current rules and with a draft."""

    model_config = ConfigDict(extra="forbid")

    surface: Literal["search", "homepage"] = Field(description="which page the request is for")
    request: dict[str, Any] = Field(description="the body /v1/search or /v1/homepage takes (checked as "
                                                "there; a bad field is a 422 at ['body', 'request', ...])")
    draft: Rule | None = Field(None, description="a rule to try (its id, when given, replaces the stored "
                                                 "rule of that id: an edit's preview)")
    draft_synonym: Synonym | None = Field(None, description="a synonym set to try")
    without: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=MAX_WITHOUT,
        description="ids of stored rules or synonym sets the draft page leaves out")


class PreviewMove(BaseModel):
    """A product whose position differs between the two pages (1-based; null: not on that page)."""

    product_id: int
    title: str | None = None
    before: int | None = Field(None, description="position without the draft")
    after: int | None = Field(None, description="position with the draft")


class PreviewResponse(BaseModel):
    without_draft: RankingResponse = Field(description="the page the shopper gets now (current rules)")
    with_draft: RankingResponse = Field(description="the same request (same request id and seed) with "
                                                    "the draft")
    moved: list[PreviewMove] = Field(description="every product whose position changed, by its position "
                                                 "with the draft (then without)")
    draft_problems: list[str] = Field(
        default_factory=list, description="what the draft rule could never do on the served catalog (a pin "
                                          "of an unknown, banned or sold-out product, a filter or hide that "
                                          "empties the page, a target naming nothing): saving it would be "
                                          "refused or reported")


PREVIEW_EXAMPLES = {
    "pin": {"summary": "pin a rice on 大米 for the morning slot",
            "value": {"surface": "search", "request": {"query": "大米", "user_id": 18085, "page_size": 20},
                      "draft": {"match": {"query": "大米"}, "action": {"pin": [2044]},
                                "schedule": {"slots": ["morning"]}, "reason": "subsidised rice, morning"}}},
    "homepage": {"summary": "a shopper's homepage without stored rule r-12",
                 "value": {"surface": "homepage", "request": {"user_id": 18085, "page_size": 20},
                           "without": ["r-12"]}},
    "synonym": {"summary": "phone also searches 手机 and smartphone",
                "value": {"surface": "search", "request": {"query": "phone"},
                          "draft_synonym": {"terms": ["phone", "手机", "smartphone"], "one_way": True,
                                            "reason": "English shoppers"}}},
}
_PINNED = [{**PAGE["cards"][1], "position": 1}, {**CARD, "position": 2}]
PREVIEW_OK = dict(pin=("the pinned rice moves from 2 to 1", {
    "without_draft": PAGE, "with_draft": {**PAGE, "cards": _PINNED},
    "moved": [{"product_id": 2044, "title": PAGE["cards"][1]["title"], "before": 2, "after": 1},
              {"product_id": CARD["product_id"], "title": CARD["title"], "before": 1, "after": 2}],
    "draft_problems": []}))
