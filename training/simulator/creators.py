"""The simulated mall's creators (带货达人): who they are, what they feature, what they sell.

Each creator has three latent traits (written to ``truth/creators.parquet``, never to a
feature): **content quality** (how engaging and honest their videos and posts are),
**product judgement** (how good the products they pick are) and **service conduct** (how
well they set a buyer's expectations: a creator who oversells brings tickets and disputes).

* a creator features ``1 + Poisson(creator_products_mean - 1)`` products, the best by
  ``judgement * z(quality) + (1 - judgement) * noise`` among a pool of 40 random listings
  (a creator of judgement 1 picks the pool's best products, one of 0 picks at random);
* each featured product gets ``1 + Poisson(0.5)`` pieces of content, published in the 60
  days before the simulation starts; views ``lognormal(log 3000, 1)``, engagements
  ``Binomial(views, 0.01 + 0.12 q^2)`` and reports ``Binomial(views, 0.0005 + 0.01 (1 - q)^2)``
  with ``q`` the content quality;
* an order of a featured product is attributed to one of its creators (uniformly) with
  probability ``creator_attribution_share`` (``creator_orders``); its fulfilment then
  follows the creator's conduct (:mod:`training.simulator.fulfilment`: ``misled = 1 - conduct``);
* a product's **creator pull** = ``max(0, 2 (r - 0.5))`` with ``r`` the best mean of the three
  traits among the creators featuring it (0 when none): the behaviour model's modest lift.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.settings import SimulatorSettings
from training.simulator.world import DAY_MS, World

POOL = 40  # listings a creator considers when picking what to feature
CONTENT_DAYS = 60  # content is published in this many days before the simulation starts


@dataclass
class Creators:
    """Creators, their latent traits, their content and which products they feature."""

    joined_ms: np.ndarray  # (C,)
    content_quality: np.ndarray
    judgement: np.ndarray
    conduct: np.ndarray
    content: dict[str, np.ndarray]  # content_id, creator_id, product_id, published_at, views, ...
    featured_start: np.ndarray  # (P + 1,) CSR offsets of each product's featuring creators
    featured_by: np.ndarray  # creator ids, grouped by product
    product_pull: np.ndarray  # (P,) 0-1
    attribution_share: float = 0.0  # of a featured product's orders credited to a creator

    @property
    def count(self) -> int:
        return len(self.joined_ms)

    def reputation_truth(self) -> np.ndarray:
        """The latent reputation the score should find: the mean of the three traits."""
        return (self.content_quality + self.judgement + self.conduct) / 3

    def attribute(self, products: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The creator credited with each order of ``products`` (-1: none)."""
        products = np.asarray(products, dtype=np.int64)
        start = self.featured_start[products]
        n_by = self.featured_start[products + 1] - start
        pick = np.floor(rng.random(len(products)) * np.maximum(n_by, 1)).astype(np.int64)
        credited = (n_by > 0) & (rng.random(len(products)) < self.attribution_share)
        safe = np.minimum(start + pick, max(len(self.featured_by) - 1, 0))
        who = self.featured_by[safe] if len(self.featured_by) else np.zeros(len(products), np.int64)
        return np.where(credited, who, -1)


def build_creators(world: World, settings: SimulatorSettings) -> Creators:
    """Creators for ``world`` (a scale's count: ``creators_per_thousand_products``)."""
    rng = np.random.default_rng([settings.seed, 5])
    n_p = world.n_products
    n = round(n_p * settings.creators_per_thousand_products / 1000)
    content_q, judgement, conduct = rng.beta(3, 2, n), rng.beta(2, 2, n), rng.beta(4, 2, n)
    joined = world.start_ms - rng.integers(CONTENT_DAYS * DAY_MS, 700 * DAY_MS, size=n)
    k = np.minimum(1 + rng.poisson(settings.creator_products_mean - 1, size=n), POOL)
    pool = rng.integers(0, n_p, size=(n, POOL))
    q = world.product_quality
    z = (q[pool] - q.mean()) / max(float(q.std()), 1e-9)
    judged = judgement[:, None] * z + (1 - judgement[:, None]) * rng.normal(size=(n, POOL))
    judged = np.where(world.product_banned[pool], -np.inf, judged)
    order = np.argsort(-judged, axis=1, kind="stable")
    take = np.arange(POOL)[None, :] < k[:, None]
    creator = np.repeat(np.arange(n), POOL).reshape(n, POOL)[take]
    product = np.take_along_axis(pool, order, axis=1)[take]
    pair = np.unique(creator.astype(np.int64) * n_p + product)  # a pool may repeat a listing
    creator, product = pair // n_p, pair % n_p
    content = _content(creator, product, content_q, world.start_ms, rng)
    by_product = np.lexsort((creator, product))
    featured_start = np.searchsorted(product[by_product], np.arange(n_p + 1))
    best = np.zeros(n_p)
    traits = (content_q + judgement + conduct) / 3
    np.maximum.at(best, product, traits[creator])
    return Creators(joined, content_q, judgement, conduct, content, featured_start,
                    creator[by_product].astype(np.int64), np.clip(2 * (best - 0.5), 0.0, 1.0),
                    settings.creator_attribution_share)


def _content(creator: np.ndarray, product: np.ndarray, quality: np.ndarray, start_ms: int,
             rng: np.random.Generator) -> dict[str, np.ndarray]:
    pieces = 1 + rng.poisson(0.5, size=len(creator))
    c, p = np.repeat(creator, pieces), np.repeat(product, pieces)
    m = len(c)
    views = np.maximum(np.round(rng.lognormal(np.log(3000), 1.0, size=m)), 1).astype(np.int64)
    q = quality[c]
    return {
        "content_id": np.arange(m, dtype=np.int64),
        "creator_id": c.astype(np.int64),
        "product_id": p.astype(np.int64),
        "published_at": start_ms - rng.integers(1, CONTENT_DAYS * DAY_MS, size=m),
        "views": views,
        "engagements": rng.binomial(views, 0.01 + 0.12 * q ** 2).astype(np.int64),
        "reports": rng.binomial(views, 0.0005 + 0.01 * (1 - q) ** 2).astype(np.int64),
    }


def creator_rows(creators: Creators) -> dict[str, np.ndarray | list]:
    """The observable ``creators`` table."""
    return {"creator_id": np.arange(creators.count, dtype=np.int64),
            "name": [f"达人{i}" for i in range(creators.count)],
            "joined_at": creators.joined_ms}


def truth_rows(creators: Creators) -> dict[str, np.ndarray]:
    """``truth/creators.parquet``: the latent traits and the reputation they add up to."""
    return {"creator_id": np.arange(creators.count, dtype=np.int64),
            "content_quality": creators.content_quality, "product_judgement": creators.judgement,
            "service_conduct": creators.conduct, "reputation": creators.reputation_truth()}
