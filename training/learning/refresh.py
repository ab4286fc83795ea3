"""``refresh_bundle``: today's scores and shopper profiles in a bundle whose model stays.

The daily half of the mall's cadence (docs/operations.md, "The cadence a mall runs"): from a
served bundle and the mall's tables (optionally with the service's event log merged in
first, as ``shelfrank merge-events`` does), build the feature snapshot as of ``as_of`` with
the same builder training uses (:func:`training.learning.snapshot_builder.build_snapshot`,
under the scores, history and mall-clock settings the bundle was trained with, so the model
reads features computed the way it learnt them) and write a new bundle version that keeps
the parent's model, recall and catalog parts byte for byte
(:func:`ranking.bundle_refresh.write_refreshed_bundle`). The service picks it up with its
usual hot swap. Refused with :class:`RefreshRefusedError` and the reason when the parent does not
verify or its feature schema differs from the code's, when the data's catalog is not the
bundle's (the kept search index, homepage recall and card titles would describe other
products), when the data ends before the bundle's cut or ``as_of`` lies outside
[the bundle's cut, the data's end], or when the model would read a feature the new snapshot
cannot give.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ranking.bundle import MANIFEST, Bundle, BundleError, load_bundle
from ranking.bundle_refresh import SNAPSHOT_PART, write_refreshed_bundle
from ranking.catalog import CATALOG_PART, CardCatalog
from ranking.features import FeatureSnapshot, Requests, build_inputs, features
from ranking.settings import MallSettings, ScoreSettings, Settings, TrainingSettings
from training.data.mall_data import MallTables, load_mall
from training.learning.snapshot_builder import CatalogCache, build_snapshot
from training.learning.train import end_of_logs_ms

RECOMPUTED = ("product and store scores with their dimensions and governance flags, price advantage, "
              "prices, stock and bans from the data's catalog, new-store flags, shopper profiles "
              "(interest by leaf and slot, price level, brand share, purchases, store visits)")


class RefreshRefusedError(ValueError):
    """A refresh that must not be made; the message says why and what to do instead."""


@dataclass
class RefreshResult:
    path: Path
    manifest: dict
    seconds: float
    changed_products: int  # products whose product score moved
    changed_stores: int  # stores whose experience score moved


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


def snapshot_settings(parent: Bundle, settings: Settings) -> Settings:
    """``settings`` with the scores, training and mall sections the parent was trained with
    (the ones its snapshot was built under); the current ones where the bundle recorded none
    or they no longer validate."""
    recorded = parent.manifest.get("settings") or {}
    update = {}
    for name, section in (("scores", ScoreSettings), ("training", TrainingSettings),
                          ("mall", MallSettings)):
        try:
            update[name] = section.model_validate(recorded[name])
        except (KeyError, ValueError):
            continue
    return settings.model_copy(update=update)


def _id_differences(what: str, ours: np.ndarray, theirs: np.ndarray) -> list[str]:
    extra, missing = np.setdiff1d(theirs, ours), np.setdiff1d(ours, theirs)
    out = []
    if len(extra):
        out.append(f"{len(extra)} {what} in the data the bundle does not know (e.g. {extra[:3].tolist()})")
    if len(missing):
        out.append(f"{len(missing)} of the bundle's {what} are not in the data "
                   f"(e.g. {missing[:3].tolist()})")
    return out


def _words(text) -> list[frozenset[str]]:
    """Each product's words (its row of the token matrix, as strings)."""
    m, vocabulary = text.product_tokens, np.asarray(text.vocabulary, dtype=object)
    return [frozenset(vocabulary[m.indices[m.indptr[i]:m.indptr[i + 1]]]) for i in range(m.shape[0])]


def _text_rows_differ(old, new) -> np.ndarray | None:
    """None when two catalog texts (same products) are the same, else the product rows whose
    words differ (empty when only their character bigrams do)."""
    if old.vocabulary == new.vocabulary and old.bigram_vocabulary == new.bigram_vocabulary and \
            (old.product_tokens != new.product_tokens).nnz == 0 and \
            (old.product_bigrams != new.product_bigrams).nnz == 0:
        return None
    return np.flatnonzero([a != b for a, b in zip(_words(old), _words(new), strict=True)])


def catalog_differences(parent: Bundle, catalog: CatalogCache, mall: MallTables) -> list[str]:
    """How the data's catalog differs from the bundle's (empty when a refresh may keep its
    search index, homepage recall and card titles): ids, leaves, product text, titles."""
    old = parent.snapshot
    problems = _id_differences("products", old.products.ids, catalog.products.product_id.to_numpy())
    problems += _id_differences("stores", old.stores.ids, mall["stores"].store_id.to_numpy())
    problems += _id_differences("leaf categories", old.leaf_ids, catalog.leaf_ids)
    if problems:
        return problems
    differing = _text_rows_differ(old.text, catalog.text)
    if differing is not None:
        which = f" (e.g. products {old.products.ids[differing[:3]].tolist()})" if len(differing) else ""
        problems.append("the products' text (titles, brands, category names) differs from the "
                        f"bundle's{which}: its search index would not match")
    kept = CardCatalog.load(parent.path / CATALOG_PART)
    now = CardCatalog.from_frames(catalog.products[["product_id", "title"]],
                                  mall["stores"][["store_id", "name"]])
    for what, a, b, ids in (("product titles", kept.titles, now.titles, kept.product_ids),
                            ("store names", kept.store_names, now.store_names, kept.store_ids)):
        differ = np.flatnonzero(a != b) if len(a) == len(b) else np.arange(len(ids))
        if len(differ):
            problems.append(f"{len(differ)} {what} differ from the bundle's cards "
                            f"(e.g. {ids[differ[:3]].tolist()})")
    return problems


def schema_problems(parent: Bundle, snapshot: FeatureSnapshot) -> list[str]:
    """Columns of the parent's snapshot the new one lacks, and model features it cannot give."""
    problems = []
    for name in ("products", "stores", "users"):
        lost = sorted(set(getattr(parent.snapshot, name).columns) - set(getattr(snapshot, name).columns))
        if lost:
            problems.append(f"the new snapshot's {name} lack the columns {lost}")
    ids = snapshot.products.ids[:50]
    users = snapshot.users.ids[:1] if len(snapshot.users.ids) else np.array([-1])
    inputs = build_inputs(snapshot, ids, np.zeros(len(ids), np.int64),
                          Requests(users.astype(np.int64), [None], np.array([12]), np.array([1])))
    model_reads = set(parent.model.feature_names)
    for f in features():
        if f.name not in model_reads:
            continue
        try:
            f.compute(inputs)
        except KeyError as exc:
            problems.append(f"the model reads feature {f.name!r} but the new snapshot lacks {exc}")
    return problems


def _window(parent: Bundle, mall: MallTables, settings: Settings, as_of_ms: int | None) -> int:
    """The as-of moment, refused outside [the bundle's cut, the data's end]."""
    cut, data_end = parent.snapshot.as_of_ms, end_of_logs_ms(mall, settings)
    if data_end < cut:
        raise RefreshRefusedError(f"the data ends at {_iso(data_end)}, before the bundle's cut {_iso(cut)}: "
                                  "it is older than the bundle (refresh with the mall's newer tables, "
                                  "or --events to merge the service's log)")
    as_of = data_end if as_of_ms is None else int(as_of_ms)
    if as_of < cut:
        raise RefreshRefusedError(f"as of {_iso(as_of)} is before the bundle's cut {_iso(cut)}: a refresh "
                                  "moves a bundle forward, never back (serve an older bundle instead)")
    if as_of > data_end:
        raise RefreshRefusedError(f"as of {_iso(as_of)} is after the data's end {_iso(data_end)}: the "
                                  "events since are missing (merge them with --events)")
    return as_of


def _load_parent(bundle_path: str | Path) -> Bundle:
    try:
        return load_bundle(bundle_path)
    except BundleError as exc:
        raise RefreshRefusedError(f"the bundle cannot be refreshed: {exc} (a bundle this code cannot "
                                  "load is retrained with shelfrank train, not refreshed)") from exc


def _moved(old: np.ndarray, new: np.ndarray) -> int:
    return int((~np.isclose(old, new, equal_nan=True)).sum()) if old.shape == new.shape else len(new)


def bundles_catalog_only(mall: MallTables, parent: Bundle) -> tuple[MallTables, dict[str, int]]:
    """The mall without the products and stores listed after the bundle was built (the live
    catalog adds them; ``merge-events`` folds them into the tables), with every row of them:
    a refresh keeps the bundle's search index and cards, so it scores the bundle's catalog,
    and the service's live catalog lays the later listings over the refreshed engine again
    (docs/catalog.md). How many products, stores and rows were left out."""
    products, stores = parent.snapshot.products.ids, parent.snapshot.stores.ids
    new_products = ~mall["products"].product_id.isin(products)
    new_stores = ~mall["stores"].store_id.isin(stores)
    if not new_products.any() and not new_stores.any():
        return mall, {}
    tables, rows = {}, 0
    for name, frame in mall.tables.items():
        keep = np.ones(len(frame), bool)
        if "product_id" in frame:
            keep &= frame.product_id.isin(products).to_numpy()
        elif "store_id" in frame:
            keep &= frame.store_id.isin(stores).to_numpy()
        rows += int((~keep).sum()) if name not in ("products", "stores") else 0
        tables[name] = frame if keep.all() else frame[keep].reset_index(drop=True)
    return MallTables(mall.data_dir, tables), {"products": int(new_products.sum()),
                                               "stores": int(new_stores.sum()), "event_rows": rows}


def _build(parent: Bundle, data_dir: Path, settings: Settings, as_of_ms: int | None):
    """The new snapshot of ``data_dir``, its as-of moment and what was left out of the
    bundle's catalog (:func:`bundles_catalog_only`), or RefreshRefusedError."""
    mall, left_out = bundles_catalog_only(load_mall(data_dir), parent)
    built_with = snapshot_settings(parent, settings)
    as_of = _window(parent, mall, built_with, as_of_ms)
    catalog = CatalogCache(mall)
    problems = catalog_differences(parent, catalog, mall)
    if problems:
        raise RefreshRefusedError("the data's catalog is not the bundle's: " + "; ".join(problems)
                             + " (retrain with shelfrank train)")
    snapshot = build_snapshot(mall, as_of, built_with, catalog)
    problems = schema_problems(parent, snapshot)
    if problems:
        raise RefreshRefusedError("the feature schema would change: " + "; ".join(problems)
                             + " (retrain with shelfrank train)")
    return snapshot, as_of, left_out


def refresh_bundle(bundle_path: str | Path, data_dir: str | Path, models_dir: str | Path,
                   settings: Settings, as_of_ms: int | None = None, events_dir: str | Path | None = None,
                   move_latest: bool = True) -> RefreshResult:
    """Write a refreshed version of ``bundle_path`` under ``models_dir`` (see the module docstring)."""
    started = time.perf_counter()
    parent = _load_parent(bundle_path)
    merged_note: dict = {}
    if events_dir is None:
        snapshot, as_of, left_out = _build(parent, Path(data_dir), settings, as_of_ms)
    else:
        from training.data.event_import import merge_events

        Path(models_dir).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".refresh-", dir=models_dir) as tmp:
            merged = Path(tmp) / "data"  # the dataset plus the log; --data stays as it is
            summary = merge_events(data_dir, events_dir, merged, settings.consistency)
            merged_note = {"merged_events": {t: n for t, n in summary.appended.items() if n},
                           "merge_findings": [f"{f.table}: {f.rows} of {f.checked} merged rows break "
                                              f"{f.rule} ({f.severity})" for f in summary.breaks]}
            snapshot, as_of, left_out = _build(parent, merged, settings, as_of_ms)
    record = {"as_of": _iso(as_of), "as_of_ms": as_of, "data_dir": str(data_dir),
              "events_dir": str(events_dir) if events_dir is not None else None,
              "recomputed": [f"{SNAPSHOT_PART}/"], "what": RECOMPUTED, **merged_note}
    if left_out:
        record["left_out_listed_after_the_bundle"] = left_out
    old, new = parent.snapshot, snapshot
    changed_p = _moved(old.products.columns["product_score"], new.products.columns["product_score"])
    changed_s = _moved(old.stores.columns["store_experience_score"],
                       new.stores.columns["store_experience_score"])
    record["seconds"] = round(time.perf_counter() - started, 2)
    path = write_refreshed_bundle(models_dir, parent, snapshot, record, move_latest=move_latest)
    seconds = time.perf_counter() - started
    manifest = json.loads((path / MANIFEST).read_text())
    return RefreshResult(path, manifest, seconds, changed_p, changed_s)
