"""Homepage recall: fitted offline, ten small candidate sources run per request, merged with provenance.

Fitted from the interaction log as of the bundle's snapshot (:meth:`HomepageRecall.fit`,
or :meth:`HomepageRecall.fit_catalog` over any catalog), queried per request: the shopper
is hydrated once (:class:`~ranking.recall.homepage_sources.context.ShopperContext`), then
each source in :data:`~ranking.recall.homepage_sources.HOMEPAGE_SOURCES` order adds its
candidates. The sources, one class per file in :mod:`ranking.recall.homepage_sources`:

* **recently_viewed** — the user's own items, strongest first (interaction weight x
  recency, "continue shopping");
* **personal** — nearest items to the user's taste vector (weighted mean of their recent
  items' co-interaction embeddings), in FAISS;
* **similar** — nearest items to the user's three strongest ones (each once, never a seed);
* **top_categories** — best products of the user's three favourite leaves at this slot;
* **recent_categories** — the most widely used products of every leaf the user touched
  lately, weighted by the user's recency-weighted interactions there;
* **trending** — recency-weighted sales velocity, within the user's top categories first;
* **subsidy** — the big-brand subsidy channel's best products;
* **theme** — best products of the current time-slot theme's categories;
* **repurchase** — consumable categories the user bought before (and those products);
* **new_stores** — best products of stores opened in the last 30 days (exploration pool).

The ranked lists keep every product, available at fitting time or not; which ones the sources
may hand out is one mask (:mod:`~ranking.recall.homepage_sources.availability`), the bundle's
at load, the live catalog's once it follows (:meth:`HomepageRecall.follow_catalog`), so a
restocked or unbanned product returns to the homepage within the live catalog's poll.

Item embeddings: a truncated SVD of the user x item matrix (clicks 1, carts 2, orders 4,
recency weighted; items L2-normalised): cheap to fit (seconds at default scale), no
extra dependency, and good enough that personal recall beats popularity by a wide margin
(tests). Quotas per source live in settings ``recall.homepage_quotas``.
"""

from __future__ import annotations

import functools
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ranking.bounded_memo import read_only
from ranking.pipeline.candidates import RankRequest
from ranking.recall.fusion import RRF_K, reciprocal_rank_fusion
from ranking.recall.homepage_sources import (
    Availability,
    FittedHomepage,
    ShopperContext,
    ShopperContextBuilder,
    build_sources,
)
from ranking.recall.homepage_sources.similar import SIMILAR_SEEDS
from ranking.recall.svd import truncated_svd
from ranking.recall.taste_lists import TasteLists
from ranking.recall.vector_index import VectorIndex
from ranking.row_lookup import RowLookup

if TYPE_CHECKING:
    from ranking.live.state import ShopperView

# the homepage pipeline's source order (cards' provenance lists them so); the recall itself
# runs them in HOMEPAGE_SOURCES order, as sources() lists them
SOURCES = ("recently_viewed", "personal", "similar", "trending", "top_categories", "recent_categories",
           "subsidy", "theme", "repurchase", "new_stores")
WEIGHTS = {"clicks": 1.0, "carts": 2.0, "orders": 4.0}
USER_ARRAYS = ("user_ids", "recent_ptr", "recent_items", "recent_weights")  # what personal's kept lists read
DAY_MS = 86_400_000


@dataclass
class HomepageCatalog:
    """What homepage recall needs to know of a catalog, as arrays aligned with its ids.

    ``leaf`` is each product's category index (-1 none) of ``n_leaves``; ``merit``
    orders products inside a category, ``velocity`` orders trending; ``user_leaf_slot``
    is users x leaves x 3 time slots of taste; ``leaf_theme_slot`` the slot each leaf is
    themed at (-1 never); ``bought_keys`` sorted ``user_row * bought_stride + leaf`` of
    past purchases (for repurchase of ``consumable_leaves``).
    """

    product_ids: np.ndarray
    user_ids: np.ndarray
    leaf: np.ndarray
    n_leaves: int
    merit: np.ndarray
    velocity: np.ndarray
    live: np.ndarray
    subsidy: np.ndarray
    new_store: np.ndarray
    user_leaf_slot: np.ndarray
    leaf_theme_slot: np.ndarray
    consumable_leaves: np.ndarray
    bought_keys: np.ndarray
    bought_stride: int

    @classmethod
    def from_snapshot(cls, snapshot, consumable_leaves: np.ndarray | None = None) -> HomepageCatalog:
        """The mall's catalog from a feature snapshot (:mod:`ranking.features.snapshot`)."""
        cols = snapshot.products.columns
        quality = np.nan_to_num(cols["product_score"], nan=50.0) / 100.0
        velocity = np.nan_to_num(cols["sales_velocity"], nan=0.0)
        store_rows = snapshot.stores.rows(cols["store_id"].astype(np.int64))
        new_store = np.where(store_rows >= 0, snapshot.stores.take("new_store", store_rows, 0.0), 0.0) > 0
        return cls(
            product_ids=snapshot.products.ids, user_ids=snapshot.users.ids,
            leaf=snapshot.leaf_of_category(cols["category_id"].astype(np.int64)),
            n_leaves=len(snapshot.leaf_ids),
            merit=(quality + velocity / max(float(velocity.max()), 1e-9)).astype(np.float32),
            velocity=velocity, live=(cols["stock"] > 0) & (cols["banned"] == 0),
            subsidy=cols["subsidy"] > 0, new_store=new_store,
            user_leaf_slot=snapshot.user_leaf_slot, leaf_theme_slot=snapshot.leaf_theme_slot,
            consumable_leaves=np.asarray([] if consumable_leaves is None else consumable_leaves, np.int64),
            bought_keys=snapshot.bought_leaf.keys, bought_stride=int(snapshot.bought_leaf.stride),
        )


RECENT_LEAVES = 20  # recent_categories looks at the user's 20 strongest leaves


@functools.lru_cache(maxsize=1024)
def rank_scores(n: int) -> np.ndarray:
    """A source's scores for a list of ``n`` ids: ``-np.arange(n)`` (float64), one read-only array per
    length. Shared, the kept union (``ranking.pipeline.kept_union``) names it by identity instead of
    hashing its bytes, and no page makes it again (ten sources a homepage)."""
    return read_only(-np.arange(n, dtype=np.float64))


def _user_leaf_weights(u: np.ndarray, p: np.ndarray, w: np.ndarray, leaf: np.ndarray, n_users: int,
                       n_leaves: int, keep: int = RECENT_LEAVES) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each user's ``keep`` strongest leaves (summed recency-weighted interactions) as CSR
    (ptr over users, leaf, weight), strongest first."""
    lf = leaf[p]
    ok = lf >= 0
    key = u[ok].astype(np.int64) * max(n_leaves, 1) + lf[ok]
    keys, inverse = np.unique(key, return_inverse=True)
    weight = np.bincount(inverse, weights=w[ok]).astype(np.float32)
    users, leaves = keys // max(n_leaves, 1), keys % max(n_leaves, 1)
    order = np.lexsort((-weight, users))
    users, leaves, weight = users[order], leaves[order], weight[order]
    counts = np.bincount(users, minlength=n_users)
    rank = np.arange(len(users)) - np.repeat(np.r_[0, np.cumsum(counts)][:-1], counts)
    top = rank < keep
    ptr = np.r_[0, np.cumsum(np.bincount(users[top], minlength=n_users))].astype(np.int64)
    return ptr, leaves[top].astype(np.int64), weight[top]


def _item_vectors(x: sp.csr_matrix, dim: int, seed: int) -> np.ndarray:
    """Each item's row of V in a truncated SVD of the user x item matrix, L2-normalised.

    ``truncated_svd`` gives sklearn's ``TruncatedSVD`` vectors without its warning on a log of
    one user. The matrix has at most ``min(x.shape)`` components, so one user gives
    one-dimensional item vectors.
    """
    _, _, vt = truncated_svd(x, min(dim, max(2, min(x.shape) - 1)), seed)
    items = vt.T.astype(np.float32)
    items /= np.maximum(np.linalg.norm(items, axis=1, keepdims=True), 1e-12)
    return items


class HomepageRecall:
    def __init__(self, arrays: dict[str, np.ndarray], index: VectorIndex, quotas: dict[str, int],
                 source_weights: dict[str, float] | None = None, tastes: TasteLists | None = None) -> None:
        self.a = arrays
        self.index = index
        # each shopper's personal list as the bundle's history gives it (their rows and recent items
        # never change after the fit: replace_arrays appends products, keeps users)
        self.tastes = tastes
        self.quotas = quotas
        self.source_weights = dict(source_weights or {})
        self.product_ids = arrays["product_ids"]
        self.user_ids = arrays["user_ids"]
        self.availability = Availability(arrays.get("available"))
        self.components = build_sources(FittedHomepage(arrays, index, self.availability, tastes), self.quotas)
        self._by_name = {c.name: c for c in self.components}
        self.shopper = ShopperContextBuilder(arrays)
        self._rows = RowLookup(self.product_ids)
        self._hydrate_lock = threading.Lock()

    def replace_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Swap in fitted arrays that hold more products (rows appended, every existing row
        kept: :mod:`ranking.live.new_products`). Readers of rows go first and the builder
        that hands rows out last, so a concurrent request never holds a row its sources lack.
        The shoppers' kept ``personal`` lists stay while the shoppers' arrays are the very ones
        they were computed from (appending products keeps them); other ones drop the lists (scanned)."""
        if any(arrays.get(name) is not self.a.get(name) for name in USER_ARRAYS):
            self.tastes = None
        self.a = arrays
        mask, given = self.availability.mask, arrays.get("available")
        if mask is not None and given is not None and len(given) > len(mask):
            self.availability.mask = np.r_[mask, given[len(mask):]]  # the new rows as listed
        self.components = build_sources(FittedHomepage(arrays, self.index, self.availability, self.tastes),
                                        self.quotas)
        self._by_name = {c.name: c for c in self.components}
        self.product_ids = arrays["product_ids"]
        self._rows = RowLookup(self.product_ids)
        self.shopper = ShopperContextBuilder(arrays)

    def follow_catalog(self, products) -> None:
        """Which products the lists may hand out, from the live product table (an
        :class:`~ranking.features.snapshot.EntityTable` with ``stock``, ``banned`` and
        ``store_banned``, which the served table carries from the engine's load): called by the live
        catalog after each overlay."""
        self.availability.follow(self.product_ids, products)
        for source in self.components:  # what they keep per mask, computed now, not by a page
            carry = getattr(source, "carry_values", None)
            if carry is not None:
                carry()

    # ---- fitting ---------------------------------------------------------------------
    @classmethod
    def fit(cls, tables: dict[str, pd.DataFrame], as_of_ms: int, snapshot, quotas: dict[str, int],
            consumable_leaves: np.ndarray | None = None, dim: int = 32, recent_items: int = 20,
            half_life_days: float = 14.0, seed: int = 7, source_weights: dict[str, float] | None = None,
            similar_lists: bool = True, threads: int = 1, personal_lists_mb: float = 0.0) -> HomepageRecall:
        """Fit from the mall's event tables (epoch-ms timestamps) before ``as_of_ms`` and a snapshot."""
        return cls.fit_catalog(tables, as_of_ms, HomepageCatalog.from_snapshot(snapshot, consumable_leaves),
                               quotas, dim=dim, recent_items=recent_items, half_life_days=half_life_days,
                               seed=seed, source_weights=source_weights, similar_lists=similar_lists,
                               threads=threads, personal_lists_mb=personal_lists_mb)

    @classmethod
    def fit_catalog(cls, tables: dict[str, pd.DataFrame], as_of_ms: int, catalog: HomepageCatalog,
                    quotas: dict[str, int], dim: int = 32, recent_items: int = 20,
                    half_life_days: float = 14.0, seed: int = 7,
                    source_weights: dict[str, float] | None = None, similar_lists: bool = True,
                    threads: int = 1, personal_lists_mb: float = 0.0) -> HomepageRecall:
        """Fit from interaction tables (``clicks``/``carts``/``orders``: user_id, product_id,
        timestamp) before ``as_of_ms`` over any catalog (the mall's, or a real dataset's).
        ``similar_lists`` (settings ``recall.similar_lists``): an exact item index also keeps every
        item's nearest as the ``similar`` source asks them (its quota plus its seeds), computed on
        ``threads`` threads (:mod:`ranking.recall.row_neighbours`). ``personal_lists_mb`` (settings
        ``recall.personal_lists_mb``; 0: none): an exact item index also keeps up to that many MB of
        the shoppers' ``personal`` lists as their fitted history gives them
        (:mod:`ranking.recall.taste_lists`)."""
        pid, uid = catalog.product_ids, catalog.user_ids
        frames = []
        for name, w in WEIGHTS.items():
            ev = tables[name]
            ev = ev[ev.timestamp < as_of_ms]
            frames.append(pd.DataFrame({"u": ev.user_id.to_numpy(), "p": ev.product_id.to_numpy(),
                                        "t": ev.timestamp.to_numpy(), "w": w}))
        it = pd.concat(frames, ignore_index=True)
        u = np.searchsorted(uid, it.u.to_numpy())
        p = np.searchsorted(pid, it.p.to_numpy())
        ok = (u < len(uid)) & (p < len(pid))
        ok &= uid[np.minimum(u, len(uid) - 1)] == it.u.to_numpy()
        ok &= pid[np.minimum(p, len(pid) - 1)] == it.p.to_numpy()
        u, p, t = u[ok], p[ok], it.t.to_numpy()[ok]
        w = it.w.to_numpy()[ok] * np.power(0.5, (as_of_ms - t) / DAY_MS / half_life_days)
        x = sp.csr_matrix((w, (u, p)), shape=(len(uid), len(pid)))
        x.sum_duplicates()
        items = _item_vectors(x, dim, seed)
        index = VectorIndex.build(items, pid)
        if similar_lists and quotas.get("similar", 0) > 0:
            index.keep_neighbours(quotas["similar"] + SIMILAR_SEEDS, threads)

        # each user's strongest distinct items (recency-weighted interaction weight, best first)
        strength = (pd.DataFrame({"u": u, "p": p, "w": w}).groupby(["u", "p"], sort=False).w.sum()
                    .reset_index())
        frame = strength.sort_values(["u", "w"], ascending=[True, False], kind="stable")
        frame["rank"] = frame.groupby("u").cumcount()
        frame = frame[frame["rank"] < recent_items]
        counts = np.bincount(frame.u.to_numpy(), minlength=len(uid))
        recent_ptr = np.r_[0, np.cumsum(counts)]
        recent_items_arr = frame.p.to_numpy(np.int64)
        recent_w = frame.w.to_numpy(np.float32)

        merit, velocity, live, leaf = catalog.merit, catalog.velocity, catalog.live, catalog.leaf

        def ranked(mask: np.ndarray, key: np.ndarray) -> np.ndarray:
            # every product, available or not: the availability mask skips the unavailable ones
            rows = np.flatnonzero(mask)
            return rows[np.argsort(-key[rows], kind="stable")].astype(np.int64)

        by_leaf = ranked(leaf >= 0, merit)
        by_leaf = by_leaf[np.argsort(leaf[by_leaf], kind="stable")]
        leaf_ptr = np.r_[0, np.cumsum(np.bincount(leaf[by_leaf], minlength=catalog.n_leaves))]
        # reach: how many distinct users touched a product (merit breaks ties, below one user)
        pairs = np.unique(u.astype(np.int64) * len(pid) + p)
        reach = np.bincount(pairs % len(pid), minlength=len(pid)).astype(np.float32)
        reach += merit.astype(np.float32) / (1.0 + max(float(np.max(merit, initial=0.0)), 0.0))
        by_leaf_reach = ranked(leaf >= 0, reach)
        by_leaf_reach = by_leaf_reach[np.argsort(leaf[by_leaf_reach], kind="stable")]
        ul_ptr, ul_leaf, ul_w = _user_leaf_weights(u, p, w, leaf, len(uid), catalog.n_leaves)
        arrays = {
            "product_ids": pid, "user_ids": uid, "item_vectors": items,
            "recent_ptr": recent_ptr.astype(np.int64), "recent_items": recent_items_arr,
            "recent_weights": recent_w, "leaf_ptr": leaf_ptr.astype(np.int64), "by_leaf": by_leaf,
            "product_leaf": leaf.astype(np.int64),
            "by_leaf_reach": by_leaf_reach, "reach": reach,
            "user_leaf_ptr": ul_ptr, "user_leaf": ul_leaf, "user_leaf_weight": ul_w,
            "trending": ranked(np.ones(len(pid), bool), velocity),
            "subsidy": ranked(catalog.subsidy, merit),
            "new_stores": ranked(catalog.new_store, merit),
            "user_leaf_slot": catalog.user_leaf_slot, "leaf_theme_slot": catalog.leaf_theme_slot,
            "consumable_leaf": np.asarray(catalog.consumable_leaves, dtype=np.int64),
            "bought_keys": catalog.bought_keys,
            "bought_stride": np.array([catalog.bought_stride]),
            "available": np.asarray(live, bool),
        }
        tastes = None
        if personal_lists_mb > 0 and index.kind == "exact" and quotas.get("personal", 0) > 0:
            tastes = TasteLists.compute(index, arrays, quotas["personal"], personal_lists_mb * 1e6, threads)
        return cls(arrays, index, dict(quotas), source_weights, tastes)

    # ---- per request -------------------------------------------------------------------
    def context(self, user_id: int | None, hour: int, live: ShopperView | None = None) -> ShopperContext:
        """The shopper as every source reads them, hydrated from this recall's tables and,
        when given, the shopper's live view."""
        return self.shopper.build(user_id, hour, live)

    def context_for(self, request: RankRequest) -> ShopperContext:
        """The request's shopper context, built once however many sources ask (concurrently):
        kept in the request's ``hydrated`` memo under this recall, the user and the hour."""
        key = (self, request.user_id, request.hour)
        with self._hydrate_lock:
            context = request.hydrated.get(key)
            if context is None:
                context = request.hydrated[key] = self.context(request.user_id, request.hour,
                                                               request.shopper)
        return context

    def sources(self, user_id: int | None, hour: int, quotas: dict[str, int] | None = None,
                context: ShopperContext | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Each source's (product ids, scores), best first, in :data:`HOMEPAGE_SOURCES` order.

        ``quotas`` override the recall's for this call (0 skips a source); a source with
        nothing to add is left out. ``context`` is the request's, when already hydrated.
        """
        q = {**self.quotas, **(quotas or {})}
        context = context if context is not None else self.context(user_id, hour)
        out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for source in self.components:
            got = self.source(source.name, context, q.get(source.name, 0))
            if got is not None:
                out[source.name] = got
        return out

    def source(self, name: str, context: ShopperContext, k: int) -> tuple[np.ndarray, np.ndarray] | None:
        """One source's (product ids, scores) as :meth:`sources` lists it, None when it has
        nothing to add (or ``k`` is 0): what the pipeline's source for ``name`` asks, without
        going through the other nine."""
        component = self._by_name.get(name)
        ids = component.listed(context, k) if k and component is not None else ()  # kept per context
        return (ids, rank_scores(len(ids))) if len(ids) else None

    def merged(self, user_id: int | None, hour: int, k: int, exclude: np.ndarray | None = None) -> np.ndarray:
        """The union, deduplicated and ranked by weighted reciprocal-rank fusion of the sources.

        Each source's weight comes from ``source_weights`` (settings
        ``recall.homepage_source_weights``, default 1): a product several sources agree on
        rises. ``exclude`` drops ids first (e.g. items the user already saw, for a
        discovery shelf).
        """
        got = self.sources(user_id, hour)
        lists, weights = [], []
        for name, (ids, _) in got.items():
            if exclude is not None and len(exclude):
                ids = ids[~np.isin(ids, exclude)]
            lists.append(ids)
            weights.append(float(self.source_weights.get(name, 1.0)))
        fused, _ = reciprocal_rank_fusion(lists, k=RRF_K, limit=k, weights=weights)
        return fused

    def similar(self, product_id: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        pos = int(self._rows.rows(np.array([product_id]))[0])
        if pos < 0:
            return np.zeros(0, np.int64), np.zeros(0)
        scores, ids = self.index.search(self.a["item_vectors"][pos:pos + 1], k + 1)
        keep = (ids[0] >= 0) & (ids[0] != product_id)
        return ids[0][keep][:k], scores[0][keep][:k]

    # ---- persistence -----------------------------------------------------------------
    def save(self, folder: Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / "homepage.npz", **self.a)
        self.index.save(folder / "faiss")
        (folder / "quotas.json").write_text(json.dumps(self.quotas))
        (folder / "source_weights.json").write_text(json.dumps(self.source_weights))
        if self.tastes is not None:
            self.tastes.save(folder)

    @classmethod
    def load(cls, folder: Path) -> HomepageRecall:
        folder = Path(folder)
        with np.load(folder / "homepage.npz", allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        quotas = json.loads((folder / "quotas.json").read_text())
        weights_file = folder / "source_weights.json"
        weights = json.loads(weights_file.read_text()) if weights_file.is_file() else {}
        tastes = TasteLists.load(folder, arrays)  # none: an older bundle, or not these arrays' (scanned)
        return cls(arrays, VectorIndex.load(folder / "faiss"), quotas, weights, tastes)
