"""The feature registry: every ranking feature declared once, computed the same way everywhere.

A :class:`Feature` has a name, a group (how ``explain`` groups contributions: product,
store, price, relevance, personal, context, live), a dtype, a default used where the value is
missing, a one-line meaning, a label and a unit for people (what an explanation shows a
merchant: "conversion rate (orders per click)" in percent; :mod:`ranking.features.units`
formats the values), and a vectorised ``compute(inputs) -> array`` over a batch of
candidates. Training and serving both call :func:`compute_features`; the trained bundle
stores :func:`schema` and serving refuses a bundle whose schema differs from the code's.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ranking.features.inputs import FeatureInputs

GROUPS = ("product", "store", "price", "relevance", "personal", "context", "live")


@dataclass(frozen=True)
class Feature:
    """One ranking feature."""

    name: str
    group: str
    meaning: str
    compute: Callable[[FeatureInputs], np.ndarray]
    default: float = float("nan")
    dtype: str = "float32"
    label: str = ""  # what a merchant reads in an explanation
    unit: str = "number"  # how its value is shown (ranking.features.units.UNITS)


_REGISTRY: dict[str, Feature] = {}
# name -> (its module's place in DEFINITION_MODULES, the order it was declared in): the schema order,
# whichever definition module was imported first (a test or a caller importing one directly)
_PLACE: dict[str, tuple[int, int]] = {}


def feature(name: str, group: str, meaning: str, default: float = float("nan"), *, label: str = "",
            unit: str = "number"):
    """Decorator: declare ``compute`` as the feature ``name`` (schema order: its module's place in
    :data:`DEFINITION_MODULES`, then declaration order within the module);
    ``label`` and ``unit`` are how an explanation names and shows it (a test requires both)."""
    if group not in GROUPS:
        raise ValueError(f"feature {name!r}: unknown group {group!r}; groups: {GROUPS}")

    def register(compute: Callable[[FeatureInputs], np.ndarray]) -> Callable:
        if name in _REGISTRY:
            raise ValueError(f"feature {name!r} is declared twice")
        _REGISTRY[name] = Feature(name, group, meaning, compute, default, label=label, unit=unit)
        _PLACE[name] = (_module_place(compute.__module__), len(_PLACE))
        _in_schema_order()
        return compute

    return register


def _module_place(module: str) -> int:
    """A definition module's place in :data:`DEFINITION_MODULES` (any other module: after them)."""
    short = module.rsplit(".", 1)[-1]
    return DEFINITION_MODULES.index(short) if short in DEFINITION_MODULES else len(DEFINITION_MODULES)


def _in_schema_order() -> None:
    """Reorder the registry by module, then by declaration: importing ``relevance_features``
    before the others (a direct import) would otherwise put its features first, and a model
    trained in that order would be refused by a service that loaded them in the usual one."""
    ordered = sorted(_REGISTRY, key=_PLACE.__getitem__)
    if ordered != list(_REGISTRY):
        placed = {name: _REGISTRY[name] for name in ordered}
        _REGISTRY.clear()
        _REGISTRY.update(placed)


def features() -> list[Feature]:
    """All declared features, in schema order."""
    _load_definitions()
    return list(_REGISTRY.values())


def feature_names() -> list[str]:
    return [f.name for f in features()]


def schema() -> list[dict]:
    """The ordered feature schema a bundle stores (name, group, dtype, default, meaning)."""
    return [
        {
            "name": f.name,
            "group": f.group,
            "dtype": f.dtype,
            "default": None if np.isnan(f.default) else f.default,
            "meaning": f.meaning,
        }
        for f in features()
    ]


def schema_hash(rows: list[dict] | None = None) -> str:
    """A short hash of the schema's names, groups, dtypes and defaults (not the prose)."""
    rows = schema() if rows is None else rows
    core = [[r["name"], r["group"], r["dtype"], r["default"]] for r in rows]
    return hashlib.sha256(json.dumps(core).encode()).hexdigest()[:16]


def schema_differences(bundle_schema: list[dict]) -> list[str]:
    """How a bundle's schema differs from the code's (empty when they match)."""
    code = schema()
    problems = []
    code_names = [r["name"] for r in code]
    bundle_names = [r["name"] for r in bundle_schema]
    missing = [n for n in code_names if n not in bundle_names]
    extra = [n for n in bundle_names if n not in code_names]
    if missing:
        problems.append(f"features the code computes but the bundle lacks: {missing}")
    if extra:
        problems.append(f"features the bundle expects but the code no longer has: {extra}")
    if not missing and not extra and code_names != bundle_names:
        problems.append("the features are in a different order")
    for c in code:
        for b in bundle_schema:
            if b["name"] == c["name"] and (b["group"], b["dtype"], b["default"]) != (
                c["group"], c["dtype"], c["default"]
            ):
                problems.append(f"feature {c['name']!r} changed its group, dtype or default")
    return problems


# up to this many candidates (a served page), each feature is written as one contiguous row of the
# transposed matrix: a column written into a C-order matrix touches a cache line per candidate
# (about 0.03-0.05 ms a page over ~25 columns). With ``any_order`` (the pipeline's page) the matrix
# is returned as that transpose (F order): the model's copy into its float64 rows
# (ranking.compiled_trees) transposes in the same pass, so no C-order float32 copy is made in
# between; else it is copied to C order once at the end. A training batch writes its columns in
# place instead (no second copy of a large matrix).
SMALL_BATCH = 4096


def compute_features(inputs: FeatureInputs, names: list[str] | None = None, *, any_order: bool = False
                     ) -> np.ndarray:
    """The (n_candidates, n_features) float32 matrix, columns in schema order: C order, or with
    ``any_order`` F order for up to :data:`SMALL_BATCH` candidates (the same values).

    Missing values take each feature's default (NaN defaults stay NaN: LightGBM routes them).
    """
    wanted = tuple(feature_names() if names is None else names)
    small = inputs.n <= SMALL_BATCH
    out = np.empty((len(wanted), inputs.n) if small else (inputs.n, len(wanted)), dtype=np.float32)
    columns = out if small else out.T  # ``columns[j]``: feature j's values, either way
    for j, name in _gather_per_product(inputs, wanted, columns):
        f = _REGISTRY[name]  # looked up per call: a test may swap a feature's definition
        col = np.asarray(f.compute(inputs))
        if col.shape != (inputs.n,):
            raise ValueError(f"feature {f.name!r} returned shape {col.shape}, want ({inputs.n},)")
        columns[j] = col  # made float32 as it is written (the cast ``astype(np.float32)`` makes)
        if not math.isnan(f.default):
            # filled in place in the output column (``col`` may be the caller's own array)
            filled = columns[j]
            filled[np.isnan(filled)] = np.float32(f.default)
    if not small:
        return out
    return out.T if any_order else np.ascontiguousarray(out.T)


def _gather_per_product(inputs: FeatureInputs, wanted: tuple[str, ...], columns: np.ndarray
                        ) -> tuple[tuple[int, str], ...]:
    """Fill the rows of ``columns`` (one per feature) of the per-product features
    ``inputs.per_product`` holds with one gather of its matrix (the values computing them would
    give: ranking.features.per_product); return the (position, name) of every feature left to
    compute. A per-request gather replaces about 36 column lookups and conversions."""
    table = inputs.per_product
    usable = table is not None and not inputs.as_of and table.names
    at, rest = _layout(wanted, table.names if usable else ())
    if at is None:
        return rest
    rows = table.matrix[inputs.product_row]  # a row of -1 is the table's unknown product
    columns[at] = rows.T
    return rest


@functools.lru_cache(maxsize=64)  # the model's names and the table's: one pair per bundle
def _layout(wanted: tuple[str, ...], gathered: tuple[str, ...]
            ) -> tuple[slice | list[int] | None, tuple[tuple[int, str], ...]]:
    """Where the table's ``gathered`` features go among ``wanted`` (a slice when the schema keeps
    them together; None when ``wanted`` lacks one of them: none is gathered), and the (position,
    name) of each feature to compute."""
    where = {name: j for j, name in enumerate(wanted)}
    at = [where.get(name, -1) for name in gathered]
    if not at or min(at) < 0:  # asked for fewer features than the table holds
        return None, tuple(enumerate(wanted))
    first = at[0]
    place = slice(first, first + len(at)) if at == list(range(first, first + len(at))) else at
    held = set(gathered)
    return place, tuple((j, name) for j, name in enumerate(wanted) if name not in held)


DEFINITION_MODULES = (
    "product_features",
    "offer_features",
    "price_features",
    "store_features",
    "creator_features",
    "relevance_features",
    "personal_features",
    "context_features",
    "live_features",
)


def _load_definitions() -> None:
    """Import the definition modules (the schema orders them as listed, whatever the import order)."""
    import importlib

    for module in DEFINITION_MODULES:
        importlib.import_module(f"ranking.features.{module}")
