"""Which candidates a rule's target names: products, a brand, a category (leaf or top), a store.

One vectorised mask over a candidate set, read from the snapshot's product columns (which the
live catalog overlays). A brand is named as the catalog writes it: equal after the search's
normalisation (case, width, accents, traditional/simplified), or by its numeric id.
"""

from __future__ import annotations

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.candidates import CandidateSet
from ranking.pipeline.columns import product_column
from ranking.recall.tokenize import search_form


def brand_ids(snapshot: FeatureSnapshot, brand: str) -> np.ndarray:
    """The ids of the catalog's brands called ``brand`` (or numbered so); empty when none."""
    text = snapshot.text
    ids = list(_brands_by_name(text).get(search_form(brand), ())) if text is not None else []
    if brand.strip().isdigit():
        ids.append(int(brand.strip()))
    return np.asarray(sorted(set(ids)), dtype=np.int64)


def _brands_by_name(text: object) -> dict[str, list[int]]:
    """Brand ids by the search form of their name, built once per catalog text (kept on it)."""
    found = getattr(text, "_brands_by_search_name", None)
    if found is None:
        found = {}
        for brand, name in text.brand_search_names().items():  # type: ignore[attr-defined]
            found.setdefault(name, []).append(int(brand))
        text._brands_by_search_name = found  # type: ignore[attr-defined]
    return found


def in_category(snapshot: FeatureSnapshot, cands: CandidateSet, category_id: int) -> np.ndarray:
    """Candidates whose leaf or top-level category is ``category_id``."""
    leaf = product_column(snapshot, cands, "category_id", missing=-1)
    top = product_column(snapshot, cands, "top_category_id", missing=-1)
    return (leaf == category_id) | (top == category_id)


def of_brand(snapshot: FeatureSnapshot, cands: CandidateSet, brand: str) -> np.ndarray:
    ids = brand_ids(snapshot, brand)
    if not len(ids):
        return np.zeros(len(cands), dtype=bool)
    return np.isin(product_column(snapshot, cands, "brand_id", missing=-1).astype(np.int64), ids)


def target_mask(target: object, cands: CandidateSet, snapshot: FeatureSnapshot) -> np.ndarray:
    """Candidates named by a :class:`~ranking.merchandising.rule.RuleTarget` or
    :class:`~ranking.merchandising.rule.Only` (whichever single field it gives)."""
    product_ids = getattr(target, "product_ids", None)
    if product_ids is not None:
        return np.isin(cands.product_ids, np.asarray(product_ids, dtype=np.int64))
    store_id = getattr(target, "store_id", None)
    if store_id is not None:
        return product_column(snapshot, cands, "store_id", missing=-1) == store_id
    category_id = getattr(target, "category_id", None)
    if category_id is not None:
        return in_category(snapshot, cands, category_id)
    return of_brand(snapshot, cands, target.brand)  # type: ignore[attr-defined]


def describe(target: object) -> str:
    """A target in words, for a note or a problem: "brand Acme", "category 12", ..."""
    for name, words in (("product_ids", "products"), ("brand", "brand"), ("category_id", "category"),
                        ("store_id", "store")):
        value = getattr(target, name, None)
        if value is not None:
            return f"{words} {', '.join(map(str, value)) if isinstance(value, list) else value}"
    return "nothing"
