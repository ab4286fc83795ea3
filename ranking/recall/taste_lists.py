"""Each known shopper's ``personal`` list as the bundle's own history gives it, kept per bundle.

The homepage's ``personal`` source scans the item index with the shopper's taste vector (the
weighted sum of their recent items' vectors: :func:`taste_vector`). For a shopper with no live
event yet, the recent items and weights are the bundle's (``ShopperContextBuilder.add_recent_items``),
so the list depends only on the bundle: its build computes each shopper's list once
(:meth:`TasteLists.compute`) and saves it beside the homepage arrays (``personal_lists.npz`` and
``personal_lists.json``), and a shopper's first homepage reads it instead of scanning
(``Personal.candidates``). A shopper whose live history moved has other recent items: scanned.
At the demo's 20,000 shoppers (19,590 with a history) the lists cost 5.7-6.2 s of CPU and 12.0 MB
(``python -m bench.personal_lists BUNDLE``), and loading them ~20-25 ms of CPU (the fingerprint
below); the scan they save cost 0.49-0.58 ms of thread CPU on a first homepage through the app
(``python -m bench.request_components BUNDLE --app --no-live-clicks --requests 300 --thread-cpu
--pipelines homepage --distinct 400``). Shoppers with live clicks (``--app`` alone, as
``bench.speed`` sets its shoppers up) have other recent items, and scan as before.

Bit for bit the scan's list: the taste vector is the one expression :func:`taste_vector`, one
shopper at a time, and the search is ``VectorIndex.scan``'s own on faiss's one-thread sequential
path with a call's queries below faiss's BLAS threshold, where each query is scanned alone (as
:mod:`ranking.recall.row_neighbours` computes ``similar``'s lists), at the very ``k`` the service
asks (the quota plus the shopper's recent items: shoppers are grouped by that count). A batched
search on faiss's BLAS path is not the scan: on the demo bundle 1,658 of 4,000 shoppers' lists
differed (scratch reading). Faiss's inner
products follow its SIMD level, so the lists hold for the faiss version and SIMD level that computed
them, and for the arrays they were computed from (a fingerprint of the recent items, their weights
and the item vectors): a bundle loaded under others keeps none and scans.

Bounded by bytes (settings ``recall.personal_lists_mb``): past the bound the strongest shoppers
(summed recent weight) keep theirs and the rest scan as before.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ranking.recall.row_neighbours import (
    ScansItself,
    faiss_arithmetic,
    queries_per_call,
    same_arithmetic,
    scan_calls,
)
from ranking.row_lookup import RowLookup

LISTS_FILE, META_FILE = "personal_lists.npz", "personal_lists.json"
SHOPPER_BYTES = 12  # a kept shopper's place and pointer, besides 4 bytes a listed item


def taste_vector(vectors: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The taste vector (1 x dim) of recent item vectors and their weights: the one expression the
    scan and the lists compute, so both hold the same bits."""
    return (vectors * weights[:, None]).sum(axis=0, keepdims=True)


def unseen(found: np.ndarray, seen_ids: np.ndarray, k: int) -> list[int]:
    """The first ``k`` ids of one search's row ``found``, none -1 and none of ``seen_ids``, in order:
    a set of ~20 ids and one pass over k + 20 (a mask, ``isin_few``'s sort and search and the takes
    cost about a third more)."""
    seen = set(seen_ids.tolist())
    return [i for i in found.tolist() if i >= 0 and i not in seen][:k]


def fingerprint(arrays: Mapping[str, np.ndarray]) -> str:
    """What the lists were computed from: the shoppers' recent items and weights and the item vectors."""
    digest = hashlib.blake2b(digest_size=16)
    for name in ("recent_ptr", "recent_items", "recent_weights", "item_vectors"):
        a = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class TasteLists:
    """``where[u]``: user row ``u``'s place in ``ptr`` (-1: none kept); its list is
    ``rows[ptr[at]:ptr[at + 1]]``, index rows (int32) of the ``personal`` list at ``k``, as
    ``Personal.search`` gives it for the bundle's own recent items and weights."""

    where: np.ndarray
    ptr: np.ndarray
    rows: np.ndarray
    k: int
    meta: dict

    @classmethod
    def compute(cls, index: ScansItself, arrays: Mapping[str, np.ndarray], k: int, max_bytes: float,
                threads: int = 1) -> TasteLists:
        """Each shopper's list at ``k`` (up to ``max_bytes`` of lists, strongest shoppers first), by
        ``index``'s own scan on ``threads`` Python threads, each with one faiss thread."""
        ptr, items, weights = arrays["recent_ptr"], arrays["recent_items"], arrays["recent_weights"]
        vectors, product_ids = arrays["item_vectors"], arrays["product_ids"]
        n_users = len(ptr) - 1
        lengths = np.diff(ptr)
        strength = np.bincount(np.repeat(np.arange(n_users), lengths), weights=weights, minlength=n_users)
        strength = np.where(lengths > 0, strength, -np.inf)  # no recent items: no list (no scan either)
        order = np.argsort(-strength, kind="stable")
        room = int(max(max_bytes, 0) // (4 * k + SHOPPER_BYTES)) if k > 0 else 0
        chosen = np.sort(order[:min(room, int((lengths > 0).sum()))])
        tastes = np.zeros((len(chosen), vectors.shape[1]), np.float32)
        held = np.zeros(len(chosen), bool)
        for i, u in enumerate(chosen.tolist()):
            recent = items[ptr[u]:ptr[u + 1]]
            taste = taste_vector(vectors[recent], weights[ptr[u]:ptr[u + 1]])
            tastes[i], held[i] = taste[0], bool(taste.any())  # a zero taste: no list (NO_IDS)
        per_call = queries_per_call(index.dim)
        calls = []  # (chosen positions, the search's k): one k a call, as each shopper asks it
        for n in np.unique(lengths[chosen[held]]).tolist():
            at = np.flatnonzero(held & (lengths[chosen] == n))
            calls += [(at[i:i + per_call], k + n) for i in range(0, len(at), per_call)]

        lists = [np.zeros(0, np.int64)] * len(chosen)  # as arrays, not Python ints: 8 bytes an id
        for (at, _), (_, found) in zip(calls, scan_calls(index, tastes, calls, threads), strict=True):
            for i, row in zip(at.tolist(), found, strict=True):
                u = int(chosen[i])
                lists[i] = np.array(unseen(row, product_ids[items[ptr[u]:ptr[u + 1]]], k), np.int64)
        flat = np.concatenate(lists) if lists else np.zeros(0, np.int64)
        rows = RowLookup(index.ids).rows(flat).astype(np.int32)
        where = np.full(n_users, -1, np.int32)
        where[chosen] = np.arange(len(chosen), dtype=np.int32)
        list_ptr = np.r_[0, np.cumsum([len(one) for one in lists])].astype(np.int64)
        meta = {"k": k, **faiss_arithmetic(), "fingerprint": fingerprint(arrays), "shoppers": len(chosen)}
        for a in (where, list_ptr, rows):  # shared by every request thread
            a.flags.writeable = False
        return cls(where, list_ptr, rows, k, meta)

    @property
    def nbytes(self) -> int:
        return int(self.where.nbytes + self.ptr.nbytes + self.rows.nbytes)

    def of(self, user_row: int, k: int) -> np.ndarray | None:
        """User row ``user_row``'s list (index rows) at ``k``, or None when not kept (another ``k``:
        the quota changed since the build, a shopper past the bound, a row outside the bundle's)."""
        if k != self.k or not 0 <= user_row < len(self.where):
            return None
        at = int(self.where[user_row])
        return None if at < 0 else self.rows[self.ptr[at]:self.ptr[at + 1]]

    def save(self, folder: Path) -> None:
        np.savez(Path(folder) / LISTS_FILE, where=self.where, ptr=self.ptr, rows=self.rows)
        (Path(folder) / META_FILE).write_text(json.dumps(self.meta))

    @classmethod
    def load(cls, folder: Path, arrays: Mapping[str, np.ndarray]) -> TasteLists | None:
        """The lists saved in ``folder``, or None: none saved (a bundle from before), other faiss
        arithmetic than this process's, or other arrays than they were computed from."""
        meta_file = Path(folder) / META_FILE
        if not meta_file.is_file():
            return None
        meta = json.loads(meta_file.read_text())
        if not same_arithmetic(meta):
            return None
        if meta.get("fingerprint") != fingerprint(arrays):
            return None
        with np.load(Path(folder) / LISTS_FILE, allow_pickle=False) as z:
            where, ptr, rows = z["where"], z["ptr"], z["rows"]
        if len(where) != len(arrays["recent_ptr"]) - 1:
            return None
        for a in (where, ptr, rows):
            a.flags.writeable = False
        return cls(where, ptr, rows, int(meta["k"]), meta)
