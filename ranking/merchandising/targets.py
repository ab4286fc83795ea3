"""Which candidates a rule's target names: products, a brand, a category (leaf or top), a store.

One vectorised mask over a candidate set, read from the snapshot's product columns (which the
live catalog overlays). A brand is named as the catalog writes it: equal after the search's
normalisation (case, width, accents, traditional/simplified), or by its numeric id.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.candidates import CandidateSet
from ranking.recall.tokenize import search_form

COMPARED = 4  # ids :func:`among` compares one by one (more: a binary search)


def among(values: np.ndarray, few: object) -> np.ndarray:
    """``np.isin(values, few)`` for the few ids a rule names (at most 100), several times faster
    than ``np.isin``'s sort: one comparison per id for up to :data:`COMPARED` ids, else a binary
    search of each value among the ids sorted (not a values-by-ids broadcast: reducing its short
    rows cost ~25 us for 500 candidates)."""
    wanted = np.asarray(few, dtype=np.int64).ravel()
    values = np.asarray(values)
    if len(wanted) <= COMPARED:
        hit = np.zeros(values.shape, dtype=bool)
        for one in wanted.tolist():
            hit |= values == one
        return hit
    ids = np.sort(wanted)
    at = np.searchsorted(ids, values)
    at[at == len(ids)] = 0  # past the largest id: compared with the first, never equal
    return ids[at] == values


def brand_ids(snapshot: FeatureSnapshot, brand: str) -> np.ndarray:
    """The ids of the catalog's brands called ``brand`` (or numbered so); empty when none."""
    text = snapshot.text
    ids = list(text.brands_by_search_name().get(_form(brand), ())) if text is not None else []
    if brand.strip().isdigit():
        ids.append(int(brand.strip()))
    return np.asarray(sorted(set(ids)), dtype=np.int64)


@lru_cache(maxsize=4096)
def _form(brand: str) -> str:
    return search_form(brand)


class Columns:
    """The candidates' product columns (store, leaf and top category, brand), each read once for
    all the rules of one request."""

    def __init__(self, snapshot: FeatureSnapshot, cands: CandidateSet) -> None:
        self.snapshot, self.cands = snapshot, cands
        self._cols: dict[str, np.ndarray] = {}

    def __call__(self, name: str) -> np.ndarray:
        col = self._cols.get(name)
        if col is None:
            products = self.snapshot.products
            if name not in products.columns:
                col = np.full(len(self.cands), -1.0)
            else:  # the candidates' rows looked up once per table (CandidateSet.rows_in)
                col = products.take_located(name, self.cands.rows_in(products), missing=-1)
            self._cols[name] = col
        return col


def in_category(snapshot: FeatureSnapshot, cands: CandidateSet, category_id: int,
                columns: Columns | None = None) -> np.ndarray:
    """Candidates whose leaf or top-level category is ``category_id``."""
    col = columns or Columns(snapshot, cands)
    return (col("category_id") == category_id) | (col("top_category_id") == category_id)


def target_mask(target: object, cands: CandidateSet, snapshot: FeatureSnapshot,
                columns: Columns | None = None) -> np.ndarray:
    """Candidates named by a :class:`~ranking.merchandising.rule.RuleTarget` or
    :class:`~ranking.merchandising.rule.Only` (whichever single field it gives); ``columns``
    shares the column reads between the rules of one request."""
    product_ids = getattr(target, "product_ids", None)
    if product_ids is not None:
        return among(cands.product_ids, product_ids)
    col = columns or Columns(snapshot, cands)
    store_id = getattr(target, "store_id", None)
    if store_id is not None:
        return col("store_id") == store_id
    category_id = getattr(target, "category_id", None)
    if category_id is not None:
        return in_category(snapshot, cands, category_id, col)
    ids = brand_ids(snapshot, target.brand)  # type: ignore[attr-defined]
    if not len(ids):
        return np.zeros(len(cands), dtype=bool)
    return among(col("brand_id").astype(np.int64), ids)  # np.isin: ~15 us a call, this ~2


# the targets :func:`target_masks` compares together: the target's field, the product columns it matches
BATCHED = (("category_id", ("category_id", "top_category_id")), ("store_id", ("store_id",)))


class TargetPlan:
    """How :func:`target_masks` reads a list of targets, worked out once per list (a set of
    rules' boost and bury targets: ``rule_moves`` keeps it with them): per :data:`BATCHED` field
    the targets naming it and the values they name, and the others (read one by one)."""

    __slots__ = ("batched", "others")

    def __init__(self, targets: list) -> None:
        self.batched: list[tuple[list[int], tuple[str, ...], np.ndarray]] = []
        for field_name, compare in BATCHED:
            at = [i for i, t in enumerate(targets) if getattr(t, field_name, None) is not None]
            if at:
                wanted = np.asarray([getattr(targets[i], field_name) for i in at], dtype=np.float64)
                self.batched.append((at, compare, wanted))
        self.others = [i for i, t in enumerate(targets)
                       if getattr(t, "category_id", None) is None and getattr(t, "store_id", None) is None]


def target_masks(targets: list, cands: CandidateSet, snapshot: FeatureSnapshot,
                 columns: Columns | None = None, plan: TargetPlan | None = None) -> np.ndarray:
    """:func:`target_mask` of each of ``targets``, one row each (``len(targets)`` by candidates):
    the category and store targets compared in one broadcast each, the others one by one;
    ``plan``: :class:`TargetPlan` of ``targets``, kept by the caller (made here when None)."""
    col = columns or Columns(snapshot, cands)
    plan = plan if plan is not None else TargetPlan(targets)
    out = np.zeros((len(targets), len(cands)), dtype=bool)
    for at, compare, wanted in plan.batched:
        hit = np.zeros((len(at), len(cands)), dtype=bool)
        for name in compare:
            hit |= col(name)[None, :] == wanted[:, None]
        out[at] = hit
    for i in plan.others:
        out[i] = target_mask(targets[i], cands, snapshot, col)
    return out


def describe(target: object) -> str:
    """A target in words, for a note or a problem: "brand Acme", "category 12", ..."""
    for name, words in (("product_ids", "products"), ("brand", "brand"), ("category_id", "category"),
                        ("store_id", "store")):
        value = getattr(target, name, None)
        if value is not None:
            return f"{words} {', '.join(map(str, value)) if isinstance(value, list) else value}"
    return "nothing"
