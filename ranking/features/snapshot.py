"""The feature snapshot: what the ranker knows about every entity at one moment.

A :class:`FeatureSnapshot` holds, as of ``as_of_ms``, per product / store / user arrays
(scores, popularity, profiles), the pairs a user bought or visited, and the catalog text
(token and character-bigram matrices, token-to-category intent). Training builds one per
time cut (so no feature sees the future of the requests it is used for); a bundle stores
the latest, and serving loads it. Saved as ``arrays.npz`` + ``meta.json`` (no pickle).
The catalog text records the tokenizer version that cut its tokens; a snapshot saved by
an older tokenizer loads only if this one reads its catalog text alike
(:func:`ranking.recall.tokenize.require_current_tokens`).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ranking.features.bm25 import bm25_matrix
from ranking.recall.tokenize import TOKENIZER_VERSION, require_current_tokens, search_form
from ranking.row_lookup import RowLookup


@dataclass
class EntityTable:
    """Columns of one entity type, rows ordered by ascending id as built.

    Rows are only ever appended (products listed after the bundle was built:
    :mod:`ranking.live.new_products`), so a row once handed out keeps meaning the same id;
    an appended id below the last one leaves the ids unsorted, and ``rows`` then looks ids
    up through a sorted view (:class:`ranking.row_lookup.RowLookup`) instead.
    """

    ids: np.ndarray
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    _lookup: RowLookup | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        lookup = RowLookup(self.ids)
        self._lookup = None if lookup.ascending else lookup

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """Row of each id, -1 where the id is unknown.

        Dense ids (consecutive integers, as catalogs numbered from a sequence are) are a
        subtraction; others a binary search.
        """
        ids = np.asarray(ids, dtype=np.int64)
        n = len(self.ids)
        if n == 0:
            return np.full(ids.shape, -1, dtype=np.int64)
        if self._lookup is not None:
            return self._lookup.rows(ids)
        first = int(self.ids[0])
        if int(self.ids[-1]) - first == n - 1:
            pos = ids - first
            return np.where((pos >= 0) & (pos < n), pos, -1)
        pos = np.clip(np.searchsorted(self.ids, ids), 0, n - 1)
        return np.where(self.ids[pos] == ids, pos, -1)

    def take(self, column: str, rows: np.ndarray, missing: float = np.nan) -> np.ndarray:
        """``column`` at ``rows`` (float64), ``missing`` where the row is -1."""
        return self.take_located(column, located(rows), missing)

    def take_located(self, column: str, at: tuple[np.ndarray, np.ndarray], missing: float = np.nan
                     ) -> np.ndarray:
        """``take`` with the rows already :func:`located`: a caller reading many columns of the
        same rows makes the two masks once instead of once per column."""
        safe, known = at
        values = self.columns[column][safe].astype(np.float64, copy=False)  # a new array either way
        if getattr(at, "all_known", False):  # every row known (most pages): no mask to apply
            return values
        return np.where(known, values, missing)


class Located(tuple):
    """(each row clipped to 0, whether it is known), and ``all_known``: whether every row is
    known, found once for every column read at these rows (``np.where`` then has nothing to do)."""

    all_known: bool

    def __new__(cls, safe: np.ndarray, known: np.ndarray) -> Located:
        made = super().__new__(cls, (safe, known))
        made.all_known = bool(known.all())
        return made

    def __getnewargs__(self) -> tuple[np.ndarray, np.ndarray]:
        return tuple(self)

    def taken(self, rows: np.ndarray) -> Located:
        """These located rows at ``rows`` (a candidate set's ``take``): every row known stays so
        without looking again."""
        safe, known = self
        if not self.all_known:
            return Located(safe[rows], known[rows])
        made = tuple.__new__(Located, (safe[rows], known[rows]))
        made.all_known = True
        return made


def located(rows: np.ndarray) -> Located:
    """(each row clipped to 0, whether it is known) for :meth:`EntityTable.take_located`."""
    return Located(np.maximum(rows, 0), rows >= 0)


# a pair set with at most this many b (leaves, stores, products up to ~1M) reads one a's values by a
# take of the thread's zeroed scratch (at most 4 MB a thread)
DENSE_STRIDE = 1 << 20
_SCRATCH = threading.local()


def _zeroed_scratch(size: int) -> np.ndarray:
    """This thread's float32 zeros, at least ``size`` long: :meth:`PairSet.lookup_one` writes one
    a's values into it and zeroes them again after its take (a fresh zeroed array as long as the
    products would cost more than the binary search it replaces)."""
    held = getattr(_SCRATCH, "zeros", None)
    if held is None or len(held) < size:
        held = _SCRATCH.zeros = np.zeros(size, np.float32)
    return held


@dataclass
class PairSet:
    """(a, b) pairs with a value, for 'has this user bought this product' lookups."""

    keys: np.ndarray  # sorted a * stride + b
    values: np.ndarray
    stride: int

    @classmethod
    def build(cls, a: np.ndarray, b: np.ndarray, values: np.ndarray, stride: int) -> PairSet:
        keys = a.astype(np.int64) * stride + b.astype(np.int64)
        order = np.argsort(keys, kind="stable")
        keys, values = keys[order], values[order]
        uniq, start = np.unique(keys, return_index=True)
        summed = np.add.reduceat(values, start) if len(values) else values
        return cls(uniq, summed.astype(np.float32), stride)

    def lookup(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The pair's value, 0 where absent or where either side is -1."""
        if len(self.keys) == 0:
            return np.zeros(len(a), dtype=np.float32)
        if len(a) and (a == a[0]).all():
            return self.lookup_one(int(a[0]), b)
        keys = a.astype(np.int64) * self.stride + b.astype(np.int64)
        pos = np.clip(np.searchsorted(self.keys, keys), 0, len(self.keys) - 1)
        # b beyond the stride (a product row appended after the pairs were built) has no
        # pair: its key would otherwise alias row b - stride of the next a
        hit = (self.keys[pos] == keys) & (a >= 0) & (b >= 0) & (b < self.stride)
        return np.where(hit, self.values[pos], 0.0).astype(np.float32)

    def lookup_one(self, a: int, b: np.ndarray) -> np.ndarray:
        """``lookup`` for one ``a`` (a served request's user): the b of that a's pairs only, found
        in its own short slice of the keys instead of every key (3 lookups a request cost about
        0.15-0.3 ms through the whole table). The same values. With a stride up to
        :data:`DENSE_STRIDE` (leaves, stores, products) the slice is spread over the thread's zeroed
        scratch of every b and read with one take, then zeroed again (a binary search per candidate
        and a select cost about 10 us a page for the leaves; 16 against 5 us for the 50,000
        products of the demo's bought pairs)."""
        b = np.asarray(b, dtype=np.int64)
        if a < 0:
            return np.zeros(len(b), dtype=np.float32)
        base = a * self.stride
        lo, hi = np.searchsorted(self.keys, [base, base + self.stride]).tolist()
        if lo == hi:
            return np.zeros(len(b), dtype=np.float32)
        if self.stride <= DENSE_STRIDE:
            # b + 1 at position b + 1: 0 (b = -1, or any b < 0 clipped) and past stride (b past the
            # stride: a row appended after the pairs were built) read a zero
            spread, at = _zeroed_scratch(self.stride + 2), self.keys[lo:hi] - (base - 1)
            try:
                spread[at] = self.values[lo:hi]
                return spread.take(b + 1, mode="clip")
            finally:
                spread[at] = 0.0  # zeros again for the thread's next read
        mine = self.keys[lo:hi] - base  # this a's b, ascending, each in [0, stride)
        pos = np.minimum(np.searchsorted(mine, b), hi - lo - 1)
        return np.where(mine[pos] == b, self.values[lo + pos], 0.0).astype(np.float32)


@dataclass
class CatalogText:
    """Tokens of every product title (+ brand and category words) and what tokens mean."""

    vocabulary: list[str]
    product_tokens: sp.csr_matrix  # (P, V) binary, rows aligned with products.ids
    bigram_vocabulary: list[str]
    product_bigrams: sp.csr_matrix  # (P, B) binary
    token_leaf: np.ndarray  # (V, L) float32: P(leaf | token) from the catalog
    brand_names: dict[int, str]
    tokenizer_version: int = TOKENIZER_VERSION  # of the tokens and bigrams above

    product_bm25: sp.csr_matrix = field(init=False, repr=False)  # (P, V) BM25 weights

    def __post_init__(self) -> None:
        self.product_bm25 = bm25_matrix(self.product_tokens)
        self._token_index = {t: i for i, t in enumerate(self.vocabulary)}
        self._bigram_index = {t: i for i, t in enumerate(self.bigram_vocabulary)}
        self._brand_search_names: dict[int, str] | None = None
        self._brands_by_search_name: dict[str, list[int]] | None = None
        # the brand search names by their first two characters, with the names they were made of
        self._brand_openings: tuple[dict[int, str], dict[str, list[tuple[int, str]]]] | None = None

    def brand_search_names(self) -> dict[int, str]:
        """Brand id -> the search form of its name (normalised, accents folded: what
        ``brand_match`` looks for in the query's search form)."""
        if self._brand_search_names is None:
            self._brand_search_names = {b: search_form(n) for b, n in self.brand_names.items()}
        return self._brand_search_names

    def brands_by_search_name(self) -> dict[str, list[int]]:
        """The search form of a brand name -> the brand ids so named (an operator's rule names a
        brand as the catalog writes it)."""
        if self._brands_by_search_name is None:
            found: dict[str, list[int]] = {}
            for brand, name in self.brand_search_names().items():
                found.setdefault(name, []).append(int(brand))
            self._brands_by_search_name = found
        return self._brands_by_search_name

    def brands_named_in(self, text: str) -> list[int]:
        """The brands whose search name (:meth:`brand_search_names`) is in ``text`` (a search
        form), ascending: ``sorted(b for b, n in names.items() if n in text)``, but only the names
        opening with a character pair of ``text`` (or one of its characters, or nothing: names
        that short) are tried, instead of every brand name per query."""
        names = self.brand_search_names()
        kept = self._brand_openings
        if kept is None or kept[0] is not names:
            openings: dict[str, list[tuple[int, str]]] = {}
            for brand, name in names.items():
                openings.setdefault(name[:2], []).append((brand, name))
            kept = self._brand_openings = (names, openings)
        openings = kept[1]
        pairs = {"", *text, *(text[i:i + 2] for i in range(len(text) - 1))}
        return sorted(int(b) for p in pairs for b, name in openings.get(p, ()) if name in text)

    def characters(self) -> set[str]:
        """Every character of the catalog text (title, brand, category names): each one is
        in some character bigram."""
        return {ch for bigram in self.bigram_vocabulary for ch in bigram}

    def token_index(self) -> dict[str, int]:
        return self._token_index

    def bigram_index(self) -> dict[str, int]:
        return self._bigram_index


@dataclass
class FeatureSnapshot:
    """Everything the features read, as of one moment."""

    as_of_ms: int
    products: EntityTable
    stores: EntityTable
    users: EntityTable
    leaf_ids: np.ndarray  # category_id of each leaf (index = leaf index)
    leaf_theme_slot: np.ndarray  # 0 morning, 1 afternoon, 2 evening, -1 none
    user_leaf_slot: np.ndarray  # (U, L, 3) float32 smoothed share of interest per slot
    user_leaf: np.ndarray  # (U, L) float32 smoothed share of interest overall
    bought: PairSet  # user row x product row -> units bought
    bought_leaf: PairSet  # user row x leaf -> orders
    store_visits: PairSet  # user row x store row -> weighted interactions
    text: CatalogText
    meta: dict = field(default_factory=dict)
    # what serving derives from the tables above once instead of per request, by key (the
    # per-product feature matrix: ranking.features.per_product, which says what invalidates it)
    derived: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def leaf_of_category(self, category_ids: np.ndarray) -> np.ndarray:
        pos = np.clip(np.searchsorted(self.leaf_ids, category_ids), 0, len(self.leaf_ids) - 1)
        return np.where(self.leaf_ids[pos] == category_ids, pos, -1)

    # ---- persistence -------------------------------------------------------------------
    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {
            "leaf_ids": self.leaf_ids,
            "leaf_theme_slot": self.leaf_theme_slot,
            "user_leaf_slot": self.user_leaf_slot,
            "user_leaf": self.user_leaf,
            "token_leaf": self.text.token_leaf,
        }
        for name, table in (("products", self.products), ("stores", self.stores),
                            ("users", self.users)):
            arrays[f"{name}.ids"] = table.ids
            for col, values in table.columns.items():
                arrays[f"{name}.{col}"] = values
        for name, pairs in (("bought", self.bought), ("bought_leaf", self.bought_leaf),
                            ("store_visits", self.store_visits)):
            arrays[f"{name}.keys"] = pairs.keys
            arrays[f"{name}.values"] = pairs.values
        for name, m in (("product_tokens", self.text.product_tokens),
                        ("product_bigrams", self.text.product_bigrams)):
            arrays[f"{name}.indptr"] = m.indptr
            arrays[f"{name}.indices"] = m.indices
            arrays[f"{name}.shape"] = np.array(m.shape)
        np.savez(folder / "arrays.npz", **arrays)
        meta = {
            "as_of_ms": self.as_of_ms,
            "columns": {n: list(t.columns) for n, t in (("products", self.products),
                        ("stores", self.stores), ("users", self.users))},
            "strides": {"bought": self.bought.stride, "bought_leaf": self.bought_leaf.stride,
                        "store_visits": self.store_visits.stride},
            "vocabulary": self.text.vocabulary,
            "bigram_vocabulary": self.text.bigram_vocabulary,
            "brand_names": {str(k): v for k, v in self.text.brand_names.items()},
            "tokenizer_version": self.text.tokenizer_version,
            "meta": self.meta,
        }
        (folder / "meta.json").write_text(json.dumps(meta, ensure_ascii=False))

    @classmethod
    def load(cls, folder: str | Path) -> FeatureSnapshot:
        folder = Path(folder)
        meta = json.loads((folder / "meta.json").read_text())
        with np.load(folder / "arrays.npz", allow_pickle=False) as npz:
            a = {k: npz[k] for k in npz.files}

        def table(name: str) -> EntityTable:
            return EntityTable(a[f"{name}.ids"], {c: a[f"{name}.{c}"] for c in meta["columns"][name]})

        def pairs(name: str) -> PairSet:
            return PairSet(a[f"{name}.keys"], a[f"{name}.values"], meta["strides"][name])

        def csr(name: str) -> sp.csr_matrix:
            indices = a[f"{name}.indices"]
            data = np.ones(len(indices), dtype=np.float32)
            return sp.csr_matrix((data, indices, a[f"{name}.indptr"]), shape=tuple(a[f"{name}.shape"]))

        text = CatalogText(
            meta["vocabulary"], csr("product_tokens"), meta["bigram_vocabulary"],
            csr("product_bigrams"), a["token_leaf"],
            {int(k): v for k, v in meta["brand_names"].items()},
        )
        # no version: saved before versions were recorded, by tokenizer 1; read as this
        # version only if it reads every character of the catalog text alike
        require_current_tokens(meta.get("tokenizer_version", 1), text.characters(), "the feature snapshot")
        return cls(
            meta["as_of_ms"], table("products"), table("stores"), table("users"), a["leaf_ids"],
            a["leaf_theme_slot"], a["user_leaf_slot"], a["user_leaf"], pairs("bought"),
            pairs("bought_leaf"), pairs("store_visits"), text, meta["meta"],
        )
