"""The caller's own filters: price range, category (leaf or top level), store."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.columns import product_column
from ranking.pipeline.filters.reasons import drop, no_reasons


@dataclass
class RequestFilters:
    """The caller's own filters: price range, category (leaf or top level), store."""

    name: str = "request_filters"

    def apply(self, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot
              ) -> tuple[np.ndarray, np.ndarray]:
        keep = np.ones(len(cands), dtype=bool)  # from the masks: comparing the reasons costs more
        if (request.price_min is None and request.price_max is None and request.category_id is None
                and request.store_id is None):
            return keep, no_reasons(len(cands))
        reason = np.full(len(cands), "", dtype=object)
        if request.price_min is not None or request.price_max is not None:  # no price read otherwise
            price = product_column(snapshot, cands, "price", missing=np.nan)
            if request.price_min is not None:
                drop(keep, reason, ~(price >= request.price_min), "filter:price_min")
            if request.price_max is not None:
                drop(keep, reason, ~(price <= request.price_max), "filter:price_max")
        if request.category_id is not None:
            leaf = product_column(snapshot, cands, "category_id", missing=-1)
            top = product_column(snapshot, cands, "top_category_id", missing=-1)
            out = (leaf != request.category_id) & (top != request.category_id)
            drop(keep, reason, out, "filter:category")
        if request.store_id is not None:
            store = product_column(snapshot, cands, "store_id", missing=-1)
            drop(keep, reason, store != request.store_id, "filter:store")
        return keep, reason
