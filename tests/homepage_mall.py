"""A tiny synthetic mall for homepage recall tests, built without the simulator.

Every homepage source has something to find in it (subsidy and new-store products,
themed leaves, consumable leaves some shoppers bought), and it is a pure function of
its seed, so the sources' output can be pinned across refactors
(``tests/data/homepage_sources_golden.json``, written by :func:`golden_outputs` before
the sources became components).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ranking.recall.homepage import HomepageCatalog, HomepageRecall

QUOTAS = {"recently_viewed": 12, "personal": 20, "similar": 15, "trending": 10, "top_categories": 18,
          "recent_categories": 14, "subsidy": 6, "theme": 12, "repurchase": 9, "new_stores": 5}
GOLDEN_USERS = (101, 107, 115, 123, 140, 159, 999)  # 999 is unknown: an anonymous shopper
GOLDEN_HOURS = (8, 14, 21)


def tiny_mall(seed: int = 11, n_products: int = 400, n_users: int = 60, n_leaves: int = 12
              ) -> tuple[dict[str, pd.DataFrame], int, HomepageCatalog]:
    """(event tables, as-of ms, catalog) of a small random mall."""
    rng = np.random.default_rng(seed)
    product_ids = np.arange(1000, 1000 + n_products, dtype=np.int64)
    user_ids = np.arange(100, 100 + n_users, dtype=np.int64)
    leaf = rng.integers(-1, n_leaves, n_products)
    as_of = 1_700_000_000_000
    tables = {}
    for name, n in (("clicks", 3000), ("carts", 600), ("orders", 250)):
        # shoppers favour a few leaves each, so tastes and recent leaves differ
        users = rng.integers(0, n_users, n)
        pick = np.where(rng.random(n) < 0.7, (users * 7 + rng.integers(0, 40, n)) % n_products,
                        rng.integers(0, n_products, n))
        tables[name] = pd.DataFrame({"user_id": user_ids[users], "product_id": product_ids[pick],
                                     "timestamp": as_of - rng.integers(1, 30 * 86_400_000, n)})
    taste = rng.random((n_users, n_leaves, 3)).astype(np.float32)
    bought_leaf = np.unique(rng.integers(0, n_users, 90) * 64 + rng.integers(0, n_leaves, 90))
    catalog = HomepageCatalog(
        product_ids=product_ids, user_ids=user_ids, leaf=leaf, n_leaves=n_leaves,
        merit=rng.random(n_products).astype(np.float32), velocity=rng.exponential(1.0, n_products),
        live=rng.random(n_products) > 0.05, subsidy=rng.random(n_products) < 0.1,
        new_store=rng.random(n_products) < 0.08, user_leaf_slot=taste,
        leaf_theme_slot=rng.integers(-1, 3, n_leaves), consumable_leaves=np.array([1, 4, 7]),
        bought_keys=bought_leaf.astype(np.int64), bought_stride=64)
    return tables, as_of, catalog


def tiny_recall(seed: int = 11) -> HomepageRecall:
    tables, as_of, catalog = tiny_mall(seed)
    return HomepageRecall.fit_catalog(tables, as_of, catalog, QUOTAS, dim=8, recent_items=10)


def golden_outputs(recall: HomepageRecall) -> dict[str, dict[str, list[int]]]:
    """``"user@hour"`` -> source -> product ids, for the golden users and hours (empty lists
    left out: a source with nothing to add is absent), and ``"merged"`` -> the first 60 of
    the fused list."""
    out = {}
    for user in GOLDEN_USERS:
        for hour in GOLDEN_HOURS:
            got = recall.sources(user, hour)
            out[f"{user}@{hour}"] = {name: ids.tolist() for name, (ids, _) in got.items() if len(ids)}
            out[f"{user}@{hour}"]["merged"] = recall.merged(user, hour, 60).tolist()
    return out
