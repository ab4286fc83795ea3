"""Shelf spread: every slot left, in score order, spread over leaf categories, brands and stores,
with the page's share of big-brand subsidy cards held to the surface's policy.

Per surface (``rules.spread_*`` and ``rules.subsidy_share_max``, keyed by the request's surface):
at most ``spread_category_max`` cards of one leaf category and ``spread_brand_max`` of one brand
in any ``spread_window`` consecutive slots (0: that cap is off), the store cap of
:mod:`~ranking.pipeline.selectors.store_diversity`, and at most ``subsidy_share_max`` x page size
subsidy cards on the page (slots placed before it, such as requested subsidy slots, count).
Search keeps its query's category (the default category cap there is off) and spreads brands.
A card passed over says which cap held it back; when nothing left fits, the caps give way in
the order category, brand, store, subsidy share, and the card placed says which one did (these
notes are made for an explained page only: ``explain`` alone shows them).

The subsidy share's key per product (0: a subsidy card, -1: not counted) is kept per version of
the ``subsidy`` column as one int8 each (:data:`SUBSIDY_KEYS`): a page takes its candidates' keys
with one take instead of the column's float32 take, its float64 copy, a comparison and an
``np.where``. The live catalog overlays ``subsidy`` (it copies the column and swaps it in), so the
keys are kept apart from the placement's key matrix (:mod:`.page_keys`, listing columns only): a
change rebuilds only this column, one comparison over the products (0.28 ms at 1M products:
``python -m timeit`` of ``_subsidy_keys`` over 1M float32, best of 5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.derived_columns import DerivedColumn
from ranking.pipeline.selectors.draft import PageDraft
from ranking.pipeline.selectors.page_keys import BRAND, CATEGORY, page_keys
from ranking.pipeline.selectors.store_diversity import StoreDiversity
from ranking.pipeline.selectors.window_caps import WindowCap, fill_in_order
from ranking.settings import RulesSettings


def _subsidy_keys(subsidy: np.ndarray) -> np.ndarray:
    """Every product's subsidy-share key, then an unknown product's (-1): 0 where ``subsidy > 0``
    as ``product_column`` reads it (float64: the same comparison; NaN is not a subsidy card)."""
    on = np.zeros(len(subsidy) + 1, dtype=bool)
    np.greater(subsidy, 0, out=on[:-1])
    return on.view(np.int8) - 1


# per product, kept while the subsidy column is the same array (the live catalog swaps it whole)
SUBSIDY_KEYS = DerivedColumn(_subsidy_keys)


def subsidy_keys(snapshot: FeatureSnapshot, cands: CandidateSet) -> np.ndarray:
    """Each candidate's subsidy-share key: 0 a subsidy card (``subsidy > 0``), -1 not counted (an
    unknown product, or every candidate when the table has no ``subsidy`` column)."""
    products = snapshot.products  # read once: the live catalog swaps the table whole
    if "subsidy" not in products.columns:
        return np.full(len(cands), -1, dtype=np.int8)
    return SUBSIDY_KEYS.candidates(products, cands, products.columns["subsidy"])


@dataclass
class ShelfSpread:
    """Fills the remaining slots in score order under the spread caps (module docstring)."""

    settings: RulesSettings
    name: str = "shelf_spread"

    def caps(self, page: PageDraft, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot
             ) -> list[WindowCap]:
        """This page's caps, in the order they give way (built once per page: the fold floor
        keeps them too)."""
        return page.once("shelf_spread caps", lambda: self._caps(page, cands, request, snapshot))

    def _caps(self, page: PageDraft, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot
              ) -> list[WindowCap]:
        r, surface = self.settings, request.surface
        window = r.spread_window.get(surface, page.size)
        keys = page_keys(page, snapshot, cands)  # each candidate's leaf and brand
        caps = []
        for rule, column, most, what in (
                ("category_spread", CATEGORY, r.spread_category_max.get(surface, 0), "category"),
                ("brand_spread", BRAND, r.spread_brand_max.get(surface, 0), "brand")):
            if most > 0:
                caps.append(WindowCap(
                    rule, keys[:, column], most, window,
                    lambda key, most=most, what=what: (
                        f"at most {most} cards of {what} {key} in any {window} consecutive slots"),
                    f"{what} spread relaxed: no candidate of another {what} left"))
        caps.append(StoreDiversity(r).cap(page))
        share = r.subsidy_share_max.get(surface, 1.0)
        if share < 1:
            size = page.size  # the reason below must not hold the page: the page's memo keeps these
            most = math.floor(share * size + 1e-9)  # caps, so it would be a cycle left to the GC
            caps.append(WindowCap(
                "subsidy_share", subsidy_keys(snapshot, cands), most, size,
                lambda _key: f"at most {most} big-brand subsidy cards on a {size}-card {surface} "
                             f"page ({share:.0%}, the {surface} policy)",
                "subsidy share relaxed: no candidate outside the subsidy channel left"))
        return caps

    def fill(self, page: PageDraft, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot,
             rng: np.random.Generator) -> None:
        # the notes only for an explained page (no other reader: ``fill_in_order``)
        fill_in_order(page, cands, self.caps(page, cands, request, snapshot), noting=request.explain)
