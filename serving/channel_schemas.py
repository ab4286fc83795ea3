"""The channel pages' response shapes and examples (``/v1/channel/*``, docs/channels.md).

A channel page is a ranking page (:class:`~serving.schemas.RankingResponse`) that also says which
channel served it, the category browsed, and whether the subsidy channel's exposure pacing ran
(:class:`PacingNote`). ``GET /v1/channel/subsidy/pacing`` answers :class:`PacingReport`.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from serving.api_examples import HOMEPAGE_PAGE, examples
from serving.schemas import RankingResponse


class PacingNote(BaseModel):
    on: bool = Field(description="whether the brands' exposure pacing moved this page's cards")
    why: str = Field(description="why pacing is on or off (channels.pacing, the live state)")


class ChannelResponse(RankingResponse):
    channel: str = Field(description="the channel page: subsidy or category")
    category_id: int | None = Field(None, description="category pages: the leaf or top category browsed")
    pacing: PacingNote | None = Field(None, description="the subsidy channel: whether its pacing ran")


class CategoryEntry(BaseModel):
    category_id: int
    products: int = Field(description="its products a category page can show: in stock, not banned, "
                                      "not of a banned store")


class TopCategories(BaseModel):
    categories: list[CategoryEntry] = Field(description="top-level categories, most products first")


class BrandPacing(BaseModel):
    brand_id: int
    promise: int = Field(description="impressions promised today (channels.pacing_daily_promise or the "
                                     "brand's override)")
    delivered: int = Field(description="impressions served on the subsidy channel since mall-local midnight")
    due: float = Field(description="promise x the share of the day's traffic elapsed")
    pacing_error: float | None = Field(description="(delivered - due) / due; null while nothing is due")


class PacingReport(BaseModel):
    live: bool = Field(description="whether the live state counted the channel's impressions")
    day_start_ms: int = Field(description="the mall-local midnight the counts start at (UTC epoch ms)")
    minute_of_day: float
    due_share: float = Field(description="share of the day's promise due by now")
    curve: str = Field(description="channels.pacing_curve: mall (hourly traffic) or flat")
    mean_abs_pacing_error: float | None = Field(description="mean |pacing error| over the brands")
    brands: list[BrandPacing]


CHANNEL_BODY = examples(
    shopper=("a shopper's channel page at noon (the 12:00 subsidy session, food & daily)",
             {"user_id": 18085, "page_size": 20, "context": {"hour": 12}}),
    anonymous=("an anonymous visitor's first page", {"session_id": "s-3f9c2a71", "page_size": 12}),
)
SUBSIDY_OK = dict(page=("the subsidy channel: eligible big-brand products, paced", {
    **HOMEPAGE_PAGE, "cards": [{**HOMEPAGE_PAGE["cards"][0], "sources": ["subsidy_channel"]}],
    "channel": "subsidy", "category_id": None,
    "pacing": {"on": True, "why": "brands paced to their daily promise since mall-local midnight"}}))
CATEGORY_OK = dict(page=("a category page: the category's products, ranked by the model", {
    **HOMEPAGE_PAGE, "cards": [{**HOMEPAGE_PAGE["cards"][0], "sources": ["category", "personal"]}],
    "channel": "category", "category_id": 12, "pacing": None}))
CATEGORIES_OK = dict(bar=("the category bar", {"categories": [{"category_id": 4, "products": 412},
                                                               {"category_id": 1, "products": 388}]}))
PACING_OK = dict(report=("two brands at noon: one behind, one ahead", {
    "live": True, "day_start_ms": 1796313600000, "minute_of_day": 720.0, "due_share": 0.3069,
    "curve": "mall", "mean_abs_pacing_error": 0.4563,
    "brands": [{"brand_id": 3, "promise": 500, "delivered": 120, "due": 153.4, "pacing_error": -0.2178},
               {"brand_id": 7, "promise": 500, "delivered": 260, "due": 153.4, "pacing_error": 0.6948}]}))
