"""A refreshed bundle: a parent bundle's model, recall and catalog kept byte for byte, a new snapshot.

Scores and shopper profiles change daily; the model weekly. :func:`write_refreshed_bundle`
writes ``models/<version>/`` holding every file of the parent bundle but its feature
snapshot as the same bytes (a hard link to the parent's file, or a copy where the models
folder is on another filesystem), the given snapshot in ``snapshot/``, and a manifest that
is the parent's plus a ``refresh`` record (parent version, the version whose model this is,
as of, what was recomputed and what kept). Every file is hashed again, so the new bundle
verifies and hot-swaps like any other (``load_bundle``, ``POST /admin/reload``, ``latest``).
The checks that a refresh may be made at all (same catalog, same feature schema, data not
older than the parent's cut) are the caller's: :mod:`training.learning.refresh`.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from ranking.bundle import MANIFEST, Bundle, BundleError, _sha256, point_latest, staged_version
from ranking.features import FeatureSnapshot, schema_hash

SNAPSHOT_PART = "snapshot"


def kept_files(parent: Bundle) -> list[str]:
    """The parent's files a refresh keeps as they are: all but the snapshot's."""
    return sorted(rel for rel in parent.manifest.get("files", {})
                  if not rel.startswith(f"{SNAPSHOT_PART}/"))


def model_version(manifest: dict) -> str:
    """The version of the bundle that trained this bundle's model (itself unless refreshed)."""
    return manifest.get("refresh", {}).get("model_version", manifest["version"])


def _keep(src: Path, dst: Path) -> str:
    """``dst`` becomes ``src``'s bytes: a hard link, else a copy; say which."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
        return "hard link"
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
    shutil.copy2(src, dst)
    return "copy"


def refreshed_version(parent: Bundle, now: Callable[[], datetime] = lambda: datetime.now(UTC),
                      sleep: Callable[[float], None] = time.sleep) -> tuple[datetime, str]:
    """(when, the version) of a refresh of ``parent``: named as ``write_bundle`` names a bundle, the
    second it is written and the model's hash (a refresh keeps the model, so its suffix is the
    parent's), in another second than ``parent``'s own: a refresh written in the second its parent
    was trained (a fast machine, the tests) carried the parent's very version, so two bundles of
    different scores had one name. Waits for the next second then (at most one)."""
    suffix = parent.manifest["files"]["model.txt"][:8]
    created = now()
    if f"{created.strftime('%Y%m%dT%H%M%SZ')}-{suffix}" == parent.version:  # not a clock behind it
        sleep(1.0 - created.microsecond / 1e6 + 0.001)
        created = now()
    return created, f"{created.strftime('%Y%m%dT%H%M%SZ')}-{suffix}"


def write_refreshed_bundle(models_dir: str | Path, parent: Bundle, snapshot: FeatureSnapshot,
                           refresh: dict, move_latest: bool = True) -> Path:
    """Write the refreshed bundle under ``models_dir`` (optionally moving ``latest``); its path.

    ``refresh`` is recorded in the manifest under ``refresh`` with ``parent_version``,
    ``model_version``, ``kept`` and ``kept_by`` added."""
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    created, version = refreshed_version(parent)
    kept = kept_files(parent)
    final = models_dir / version
    if final.exists():
        raise BundleError(f"{final} already exists (a bundle written this second): refresh again")
    with staged_version(models_dir, version) as tmp:
        how = {_keep(parent.path / rel, tmp / rel) for rel in kept}
        snapshot.save(tmp / SNAPSHOT_PART)
        files = {str(p.relative_to(tmp)): _sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
        changed = [rel for rel in kept if files[rel] != parent.manifest["files"][rel]]
        if changed:
            raise BundleError(f"{parent.path}: {', '.join(changed)} changed while being kept")
        record = {**refresh, "parent_version": parent.version,
                  "model_version": model_version(parent.manifest), "kept": kept,
                  "kept_by": " and ".join(sorted(how)) or "nothing"}
        manifest = {key: value for key, value in parent.manifest.items()
                    if key not in ("version", "created_at", "files", "refresh")}
        manifest.update(refresh=record, version=version, created_at=created.isoformat(timespec="seconds"),
                        feature_schema_hash=schema_hash(), files=files)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False, default=float))
    if move_latest:
        point_latest(models_dir, version)
    return final
