"""Cold-start slots: positions of the surface's budget given to a new product, drawn by
Thompson sampling over the new candidates still exploring (:mod:`ranking.cold_start`).

The budget is ``cold_start.slots[surface]`` (homepage, channel pages, search; 1-based
positions). For each open budget position, the pool is the ``cold_start.pool_max`` best-ranked
unplaced candidates in stage ``exploring`` (on search they have all passed the query's
relevance floor, which runs as a filter before placement); one draw of their order-rate
posteriors picks the card and its exact propensity (each member's chance of the highest draw,
by quadrature on ``cold_start.propensity_grid`` points) is logged on the card. On an explained
page every new candidate gets a ``cold_start`` note with its stage and posterior mean, so a new
product ranked normally shows its stage in ``explain`` too; a placed card's note (made on every
page: min categories reads it) adds its position and propensity.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from ranking.cold_start.bandit import MemberRows, PoolQuadrature
from ranking.cold_start.product_facts import snapshot_facts
from ranking.cold_start.stages import EXPLORING
from ranking.cold_start.view import ColdStartView, LeafRateCache, cold_start_view, table_view
from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.selectors.draft import PageDraft
from ranking.settings import ColdStartSettings

# the pool members' quadrature rows, kept across requests and pipelines (keyed by all they are
# computed from; 1,024 members, 4 MB): most pools of a page meet members and a grid seen before
MEMBER_ROWS = MemberRows()


@dataclass
class ColdStartSlots:
    """The cold-start bandit's exploration slots (see the module docstring)."""

    settings: ColdStartSettings
    name: str = "cold_start"
    # the leaf rates a request computes its own facts with while ``facts`` is built aside
    rates: LeafRateCache = field(default_factory=LeafRateCache, repr=False)

    def fill(self, page: PageDraft, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot,
             rng: np.random.Generator) -> None:
        s = self.settings
        positions = sorted(set(s.slots.get(request.surface, []))) if s.enabled else []
        if not positions or not len(cands):
            return
        products = snapshot.products  # read once: the live catalog swaps the table whole
        # every product's store opening, leaf rates and bundle counts, per version of the catalog
        facts = snapshot_facts(snapshot).ready(products, snapshot.stores, s.prior_strength)
        if facts is None:  # built aside after a catalog change: this request computes its own
            view = cold_start_view(snapshot, cands.product_ids, request.now_ms, request.live_signals, s,
                                   self.rates.of(snapshot, s.prior_strength))
        else:
            view = table_view(products, cands.product_ids, cands.rows_in(products), request.now_ms,
                              request.live_signals, s, facts)
        if not len(view.rows):
            return
        at = np.full(len(cands), -1, np.int64)  # candidate row -> its index among the new ones
        at[view.rows] = np.arange(len(view.rows))
        exploring = np.zeros(len(cands), dtype=bool)
        exploring[view.rows] = view.stage == EXPLORING
        placed: dict[int, tuple[int, float, int]] = {}
        quadrature = PoolQuadrature(s.propensity_grid, MEMBER_ROWS)  # the slots' pools share most members
        for slot in positions:
            if not page.is_open(slot):
                continue
            pool = page.order[exploring[page.order] & ~page.used[page.order]][: s.pool_max]
            if not len(pool):
                break
            k = at[pool]
            pick, propensity = quadrature.draw(pool.tolist(), view.posterior.order_alpha[k],
                                               view.posterior.order_beta[k], rng)
            r = int(pool[pick])
            page.put(slot - 1, r, float(propensity[pick]))
            placed[r] = (slot, float(propensity[pick]), len(pool))
        self._note(cands, view, placed, request.explain)

    def _note(self, cands: CandidateSet, view: ColdStartView, placed: dict[int, tuple[int, float, int]],
              everyone: bool) -> None:
        """Each new candidate's note (``everyone``: an explained page), else the placed cards' only
        (min categories reads those: it never swaps a card another selector placed)."""
        if not everyone and not placed:
            return
        post = view.posterior
        mean, leaf = post.order_mean.tolist(), post.leaf_order_rate.tolist()
        shown, ordered = post.impressions.tolist(), post.orders.tolist()
        stage, new_product = view.stage.tolist(), view.new_product[view.rows].tolist()  # plain values
        rows, notes = view.rows.tolist(), []
        noted = range(len(rows)) if everyone else [k for k, r in enumerate(rows) if r in placed]
        for k in noted:  # k: its index among the new ones
            r = rows[k]
            note = {"rule": self.name, "stage": stage[k], "posterior_mean": mean[k],
                    "leaf_rate": leaf[k], "impressions": shown[k], "orders": ordered[k]}
            if r in placed:
                slot, p, n = placed[r]
                why = "new product" if new_product[k] else "new store's product"
                note.update(position=slot, propensity=p, why=(
                    f"{why}: cold-start slot drawn by Thompson sampling from {n} exploring new "
                    f"products (order rate {mean[k]:.2%} expected, its leaf {leaf[k]:.2%})"))
            else:
                note["why"] = _ranked_why(new_product[k], stage[k])
            notes.append(note)
        cands.rule_notes.append([rows[k] for k in noted], notes)


@functools.cache
def _ranked_why(new_product: bool, stage: str) -> str:
    """The note of a new candidate the bandit did not place (a few strings, made once each)."""
    why = "new product" if new_product else "new store's product"
    return f"{why} in cold start, stage {stage}, ranked by the model"
