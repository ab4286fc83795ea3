"""The simulator's hidden truth, and the oracle an evaluator scores rankings against.

``truth/`` beside the observable tables holds what the simulator knows and no feature
may use: the stores' logistics speed, service quality, stability and quality control,
each product's quality, information completeness, appeal and fair market price, each
user's category taste and sensitivities, each query's intended category and brand, and
the examination curve by position, and every logged request's session truth (session,
page, the mission leaf the shopper was shopping for, its strength on that page, and
whether an earlier page had revealed it), the creators' traits and each product's creator
pull, each user's loyalty and the final user-store bonds. :class:`Truth` loads it and answers, for any
cards, the true probability of a purchase once examined (the oracle's gain), with or
without the session's mission (what an in-session signal could earn). The oracle includes
the creator pull but not the loyalty bonds (:mod:`training.simulator.loyalty`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from ranking.badges import ATTRIBUTE_BADGES
from ranking.contracts import read_table
from ranking.surfaces import SURFACE_CODES
from training.simulator.behaviour import BehaviourModel, slot_of_hour

TRUTH_DIR = "truth"


class Truth:
    """Loaded truth of a simulated mall, with the oracle's probabilities."""

    def __init__(self, model: BehaviourModel, query_ids: np.ndarray, query_leaf: np.ndarray,
                 query_brand: np.ndarray, position_bias: dict[str, np.ndarray],
                 first_leaf_category: int, params: dict, requests=None) -> None:
        self.model = model
        order = np.argsort(query_ids)
        self._qids = query_ids[order]
        self._qleaf = query_leaf[order]
        self._qbrand = query_brand[order]
        self.position_bias = position_bias
        self.first_leaf_category = first_leaf_category
        self.params = params
        self.requests = requests  # per request: session, page, mission (None before missions)
        if requests is not None:
            r = requests.sort_values("request_id")
            self._rids = r.request_id.to_numpy(np.int64)
            self._rleaf = (r.mission_category_id.to_numpy(np.int64) - first_leaf_category)
            self._rstrength = r.mission_strength.to_numpy(np.float64)

    @classmethod
    def load(cls, data_dir: str | Path) -> Truth:
        """Load ``data_dir/truth`` together with the observable catalog it refers to."""
        data_dir = Path(data_dir)
        tdir = data_dir / TRUTH_DIR
        if not tdir.is_dir():
            raise FileNotFoundError(f"{tdir}: no simulator truth here (is {data_dir} simulated?)")
        products = read_table(data_dir, "products").to_pandas()
        brands = read_table(data_dir, "brands").to_pandas()
        categories = read_table(data_dir, "categories").to_pandas()
        tp = pq.read_table(tdir / "products.parquet").to_pandas()
        ts = pq.read_table(tdir / "stores.parquet").to_pandas()
        tu = pq.read_table(tdir / "users.parquet").to_pandas()
        tq = pq.read_table(tdir / "queries.parquet").to_pandas()
        bias = pq.read_table(tdir / "position_bias.parquet").to_pandas()
        affinity = np.load(tdir / "user_affinity.npy", allow_pickle=False)
        params = json.loads((tdir / "params.json").read_text())

        leaves = categories[categories.level == 1].sort_values("category_id")
        first_leaf = int(leaves.category_id.min())
        _check_matches(tdir, products, tp, leaves, affinity)
        tops = categories[categories.level == 0].sort_values("category_id")
        top_index = {cid: i for i, cid in enumerate(tops.category_id)}
        slot_of = {"grains_oil": 0, "food_daily": 1, "digital": 2, "beauty": 2, "": -1}
        tier = brands.set_index("brand_id").tier
        reliability = (
            0.5 * ts.logistics_speed + 0.3 * ts.service_quality + 0.2 * ts.stability
        ).to_numpy()
        model = BehaviourModel(
            leaf_top=leaves.parent_id.map(top_index).to_numpy(),
            leaf_theme_slot=leaves.theme.map(slot_of).to_numpy(),
            product_leaf=(products.category_id - first_leaf).to_numpy(),
            product_brand=products.brand_id.to_numpy(),
            product_big_brand=(products.brand_id.map(tier) == "big_brand").to_numpy(),
            product_store=products.store_id.to_numpy(),
            product_price=products.price.to_numpy(),
            product_list_price=products.list_price.to_numpy(),
            product_subsidy=products.subsidy.to_numpy(),
            product_quality=tp.quality.to_numpy(),
            product_info=tp.info_completeness.to_numpy(),
            product_appeal=tp.appeal.to_numpy(),
            product_market_price=tp.market_price.to_numpy(),
            store_reliability=reliability,
            user_affinity=affinity,
            user_price_sensitivity=tu.price_sensitivity.to_numpy(),
            user_quality_sensitivity=tu.quality_sensitivity.to_numpy(),
            user_brand_affinity=tu.brand_affinity.to_numpy(),
            mission_sibling_share=float(params.get("mission_sibling_share", 0.0)),
            product_offers={name: products[name].to_numpy() for name in ATTRIBUTE_BADGES},
            user_risk_aversion=(tu.risk_aversion.to_numpy() if "risk_aversion" in tu else None),
            offer_effect=float(params.get("offer_effect", 0.0)),
            product_creator_pull=tp.creator_pull.to_numpy() if "creator_pull" in tp else None,
            creator_lift=float(params.get("creator_lift", 0.0)),
        )
        curves = {
            s: g.sort_values("position").examination.to_numpy() for s, g in bias.groupby("surface")
        }
        requests = (pq.read_table(tdir / "requests.parquet").to_pandas()
                    if (tdir / "requests.parquet").exists() else None)
        return cls(
            model,
            tq.query_id.to_numpy(),
            (tq.category_id - first_leaf).to_numpy(),
            tq.brand_id.fillna(-1).astype(np.int64).to_numpy(),
            curves,
            first_leaf,
            params,
            requests,
        )

    def _query_intent(self, query_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q = np.asarray(query_ids, dtype=np.int64)
        idx = np.clip(np.searchsorted(self._qids, q), 0, max(len(self._qids) - 1, 0))
        known = (len(self._qids) > 0) & (self._qids[idx] == q) if len(self._qids) else np.zeros(
            len(q), bool)
        return np.where(known, self._qleaf[idx], -1), np.where(known, self._qbrand[idx], -1)

    def session_mission(self, request_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mission leaf index, mission strength) of logged requests; (-1, 0) for a request
        the truth does not know (or a mall simulated before missions)."""
        q = np.asarray(request_ids, dtype=np.int64)
        if self.requests is None or not len(self._rids):
            return np.full(q.shape, -1, np.int64), np.zeros(q.shape)
        idx = np.clip(np.searchsorted(self._rids, q), 0, len(self._rids) - 1)
        known = self._rids[idx] == q
        return np.where(known, self._rleaf[idx], -1), np.where(known, self._rstrength[idx], 0.0)

    def mission_leaf_of(self, category_ids: np.ndarray) -> np.ndarray:
        """Leaf index of leaf category ids (the truth's positional leaves)."""
        return np.asarray(category_ids, dtype=np.int64) - self.first_leaf_category

    def purchase_probability(
        self,
        user_ids: np.ndarray,
        product_ids: np.ndarray,
        hours: np.ndarray,
        surfaces: np.ndarray,
        query_ids: np.ndarray | None = None,
        mission_leaf: np.ndarray | None = None,
        mission_strength: np.ndarray | None = None,
    ) -> np.ndarray:
        """True P(order | card examined) for aligned arrays of cards.

        ``surfaces`` holds names (search/homepage/channel) or codes 0/1/2; ``query_ids``
        may hold -1 (or be None) off search. ``mission_leaf`` (leaf index, -1 none) and
        ``mission_strength`` (e.g. :meth:`session_mission` of the cards' requests) add the
        session's mission; without them the card is valued as if outside any session.
        Vectorised; any length.
        """
        p_click, p_order = self.click_and_order_probability(
            user_ids, product_ids, hours, surfaces, query_ids, mission_leaf, mission_strength
        )
        return p_click * p_order

    def click_and_order_probability(self, user_ids, product_ids, hours, surfaces, query_ids=None,
                                    mission_leaf=None, mission_strength=None
                                    ) -> tuple[np.ndarray, np.ndarray]:
        """(P(click | examined), P(order | click)) for aligned arrays of cards."""
        users = np.asarray(user_ids, dtype=np.int64)
        products = np.asarray(product_ids, dtype=np.int64)
        surf = np.asarray(surfaces)
        if surf.dtype.kind in "USO":
            surf = np.vectorize(SURFACE_CODES.__getitem__, otypes=[np.int64])(surf)
        surf = np.broadcast_to(surf, users.shape)
        if query_ids is None:
            query_ids = np.full(users.shape, -1, dtype=np.int64)
        qleaf, qbrand = self._query_intent(np.broadcast_to(query_ids, users.shape))
        slots = slot_of_hour(np.broadcast_to(np.asarray(hours), users.shape))
        if mission_leaf is not None and mission_strength is not None:
            mission_leaf = np.broadcast_to(np.asarray(mission_leaf, np.int64), users.shape)
            mission_strength = np.broadcast_to(np.asarray(mission_strength, np.float64), users.shape)
        return self.model.probabilities(users, products, slots, surf, qleaf, qbrand, mission_leaf,
                                        mission_strength)


class TruthMismatchError(ValueError):
    """``truth/`` was written for another catalog than the tables beside it."""


def _check_matches(tdir: Path, products, truth_products, leaves, affinity: np.ndarray) -> None:
    """The truth is positional (product row i, leaf i - first leaf): refuse a catalog edited
    after simulating, which would otherwise mis-score every card or fail in numpy."""
    if not np.array_equal(truth_products.product_id.to_numpy(), products.product_id.to_numpy()):
        raise TruthMismatchError(
            f"{tdir}: the truth describes {len(truth_products):,} products, products.parquet "
            f"lists {len(products):,} (or in another order): the catalog changed after simulating")
    contiguous = np.array_equal(leaves.category_id.to_numpy() - leaves.category_id.min(),
                                np.arange(len(leaves)))
    if affinity.shape[1] != len(leaves) or not contiguous:
        raise TruthMismatchError(
            f"{tdir}: the truth knows {affinity.shape[1]} leaf categories, categories.parquet has "
            f"{len(leaves)}" + ("" if contiguous else " with gaps in their ids")
            + ": the catalog changed after simulating")
