"""Reciprocal-rank fusion: ``score(d) = sum over sources of 1 / (k + rank_s(d))`` (k = 60 by
default, settings ``recall.rrf_k``).

Ranks, not raw scores, are fused, so BM25's unbounded scores and cosine similarities mix
without calibration; a product found by both sources rises above one found by either.
"""

from __future__ import annotations

import numpy as np

RRF_K = 60


def reciprocal_rank_fusion(lists: list[np.ndarray], k: int = RRF_K, limit: int | None = None,
                           weights: list[float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(ids, fused scores) best first, from ranked id lists (best first).

    ``weights`` (one per list, default 1) scale each source's contributions: weighted RRF,
    for a source known to be weaker on its own (``sum_s w_s / (k + rank_s(d))``).
    """
    if weights is None:
        weights = [1.0] * len(lists)
    if len(weights) != len(lists):
        raise ValueError(f"{len(weights)} weights for {len(lists)} lists")
    ids = np.concatenate([np.asarray(x, dtype=np.int64) for x in lists]) if lists else np.zeros(0, np.int64)
    if len(ids) == 0:
        return ids, np.zeros(0)
    contrib = np.concatenate([w / (k + np.arange(1, len(x) + 1))
                              for x, w in zip(lists, weights, strict=True)])
    uniq, inverse = np.unique(ids, return_inverse=True)
    fused = np.bincount(inverse, weights=contrib)
    order = np.lexsort((uniq, -fused))
    if limit is not None:
        order = order[:limit]
    return uniq[order], fused[order]
