"""The homepage's candidate sources, one small class per file, and the shopper context they read.

Each source (:class:`~ranking.recall.homepage_sources.base.ShopperSource`) has a name, a
quota and ``candidates(context, k) -> product ids``; all of them read one
:class:`~ranking.recall.homepage_sources.context.ShopperContext` hydrated once per
request. :data:`HOMEPAGE_SOURCES` is the order :class:`~ranking.recall.homepage.HomepageRecall`
runs them (and lists them in ``sources()``).
"""

from __future__ import annotations

from collections.abc import Mapping

from ranking.recall.homepage_sources.availability import Availability
from ranking.recall.homepage_sources.base import FittedHomepage, QuotaSource, ShopperSource
from ranking.recall.homepage_sources.context import ShopperContext, ShopperContextBuilder
from ranking.recall.homepage_sources.new_stores import NewStores
from ranking.recall.homepage_sources.personal import Personal
from ranking.recall.homepage_sources.recent_categories import RecentCategories
from ranking.recall.homepage_sources.recently_viewed import RecentlyViewed
from ranking.recall.homepage_sources.repurchase import Repurchase
from ranking.recall.homepage_sources.similar import Similar
from ranking.recall.homepage_sources.subsidy import Subsidy
from ranking.recall.homepage_sources.theme import Theme
from ranking.recall.homepage_sources.top_categories import TopCategories
from ranking.recall.homepage_sources.trending import Trending

HOMEPAGE_SOURCES: tuple[type[QuotaSource], ...] = (
    RecentlyViewed, Personal, Similar, TopCategories, RecentCategories, Trending, Subsidy, Theme,
    Repurchase, NewStores,
)


def build_sources(fitted: FittedHomepage, quotas: Mapping[str, int]) -> list[ShopperSource]:
    """Every homepage source over one fitted recall, in run order."""
    return [cls(fitted, quotas) for cls in HOMEPAGE_SOURCES]


__all__ = ["HOMEPAGE_SOURCES", "Availability", "FittedHomepage", "ShopperContext", "ShopperContextBuilder",
           "ShopperSource", "build_sources"]
