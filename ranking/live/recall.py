"""Live homepage candidates: what the shopper did seconds ago, blended with the bundle's list.

Four ranked lists, fused by weighted reciprocal-rank fusion (weights
``live.recall_source_weights``, k ``live.recall_rrf_k``):

* **recent** — the shopper's own items ("continue shopping"), each scored by the sum over its
  interactions of ``live.recall_recency_decay ** (interactions since)``, times
  ``live.recall_leaf_boost`` when it is in the leaf of the shopper's last interaction (on
  Taobao the next item is in that leaf 43% of the time);
* **covisit** — the co-visited neighbours (:mod:`ranking.live.covisitation`) of the last
  ``live.recall_seeds`` distinct items, each seed's weights scaled to its strongest and
  discounted by how long ago the seed was (1 / position), summed over seeds;
* **frozen** — the bundle's merged homepage list (``HomepageRecall.merged``), computed by
  the caller as of the bundle's snapshot;
* **popular** — the fallback for a shopper with nothing else.

Items in the view's ``exclude`` (bought non-consumables, cards ignored too often) never come
back. Nothing here is fitted: the lists and weights are the whole model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ranking.live.state import LiveState, ShopperView
from ranking.recall.fusion import reciprocal_rank_fusion

if TYPE_CHECKING:
    from ranking.live.redis_state import RedisLiveState


def covisited(state: LiveState | RedisLiveState, view: ShopperView, seeds: int) -> np.ndarray:
    """Product ids co-visited with the shopper's last ``seeds`` distinct items, strongest first
    (either backend: it reads ``state.neighbours``)."""
    recent = view.recent_items(seeds)
    if not len(recent):
        return np.zeros(0, np.int64)
    neighbour, weight = state.neighbours(recent)  # the view's items are all known to the state
    weight = weight / np.maximum(weight[:, :1], 1e-12)  # each seed's strongest counts 1
    weight *= (1.0 / np.arange(1, len(neighbour) + 1, dtype=np.float32))[:, None]
    held = neighbour >= 0
    if not held.any():
        return np.zeros(0, np.int64)
    uniq, inverse = np.unique(neighbour[held], return_inverse=True)
    score = np.bincount(inverse, weights=weight[held])
    return uniq[np.lexsort((uniq, -score))]


def own_items(view: ShopperView, decay: float, leaf_boost: float) -> np.ndarray:
    """The shopper's distinct items, by recency-decayed interaction count, the current leaf first."""
    if not len(view.items):
        return np.zeros(0, np.int64)
    uniq, first, inverse = np.unique(view.items, return_index=True, return_inverse=True)
    score = np.bincount(inverse, weights=np.power(decay, np.arange(len(view.items))))
    leaf = view.leaves[first]
    score *= np.where((leaf >= 0) & (leaf == view.leaves[0]), leaf_boost, 1.0)
    return uniq[np.lexsort((first, -score))]


def live_candidates(state: LiveState | RedisLiveState, view: ShopperView, frozen: np.ndarray,
                    popular: np.ndarray, k: int) -> np.ndarray:
    """The shopper's ``k`` homepage candidates: recent, co-visited, frozen and popular, fused."""
    s = state.settings
    lists = {"recent": own_items(view, s.recall_recency_decay, s.recall_leaf_boost),
             "covisit": covisited(state, view, s.recall_seeds),
             "frozen": np.asarray(frozen, np.int64), "popular": np.asarray(popular, np.int64)}
    exclude = view.exclude
    if s.recall_skip_current and len(view.items):
        exclude = np.append(exclude, view.items[0])  # the item the shopper is on now
    if len(exclude):
        lists = {name: ids[~np.isin(ids, exclude)] for name, ids in lists.items()}
    weights = s.recall_source_weights
    used = [name for name in lists if weights.get(name, 0.0) > 0 and len(lists[name])]
    fused, _ = reciprocal_rank_fusion([lists[n] for n in used], k=s.recall_rrf_k, limit=k,
                                      weights=[weights[n] for n in used])
    return fused
