"""Bundles: everything serving needs, written whole, checked on load, never half-swapped.

``models/<version>/`` holds ``model.txt`` (LightGBM text), ``feature_schema.json``,
``snapshot/`` (the feature snapshot), any extra parts (e.g. ``recall/``) and
``manifest.json`` (version, creation time, schema hash, SHA-256 of every file, data
summary, metrics). :func:`write_bundle` writes into a hidden temporary folder, renames it
into place, then moves the ``latest`` symlink atomically (``os.replace``).
:func:`load_bundle` verifies every hash and the feature schema against the code and raises
:class:`BundleError` with the reason otherwise; so it does for a snapshot whose tokens an
older tokenizer cut from text the current one reads differently (rebuild such a bundle).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ranking.features import FeatureSnapshot, schema, schema_differences, schema_hash
from ranking.model import RankingModel, compiled_file_in
from ranking.recall.tokenize import TokenizerVersionError
from ranking.settings import redact_secrets

MANIFEST = "manifest.json"
COMPILED_PART = "compiled"
LATEST = "latest"


class BundleError(ValueError):
    """A bundle cannot be used; the message says why."""


@dataclass
class Bundle:
    """A loaded, verified bundle."""

    path: Path
    manifest: dict
    model: RankingModel
    snapshot: FeatureSnapshot

    @property
    def version(self) -> str:
        return self.manifest["version"]

    @property
    def public_manifest(self) -> dict:
        """The manifest as the service shows it: secret settings masked, even in a bundle
        trained before secrets were masked in the manifest (such a bundle's manifest.json on
        disk still holds the secret in clear: retrain it, or rotate the secret)."""
        if "settings" not in self.manifest:
            return self.manifest
        return {**self.manifest, "settings": redact_secrets(self.manifest["settings"])}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_bundle(
    models_dir: str | Path,
    model_text: str,
    snapshot: FeatureSnapshot,
    manifest: dict,
    parts: dict[str, Callable[[Path], None]] | None = None,
    move_latest: bool = True,
) -> Path:
    """Write a complete bundle under ``models_dir`` and point ``latest`` at it."""
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    created = datetime.now(UTC)
    digest = hashlib.sha256(model_text.encode()).hexdigest()[:8]
    version = f"{created.strftime('%Y%m%dT%H%M%SZ')}-{digest}"
    with staged_version(models_dir, version) as tmp:
        (tmp / "model.txt").write_text(model_text)
        (tmp / "feature_schema.json").write_text(json.dumps(schema(), indent=2, ensure_ascii=False))
        snapshot.save(tmp / "snapshot")
        for name, writer in (parts or {}).items():
            writer(tmp / name)
        files = {
            str(p.relative_to(tmp)): _sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()
        }
        full = {
            **manifest,
            "version": version,
            "created_at": created.isoformat(timespec="seconds"),
            "feature_schema_hash": schema_hash(),
            "files": files,
        }
        (tmp / MANIFEST).write_text(json.dumps(full, indent=2, ensure_ascii=False, default=float))
    if move_latest:
        point_latest(models_dir, version)
    return models_dir / version


@contextmanager
def staged_version(models_dir: Path, version: str) -> Iterator[Path]:
    """A hidden folder to write bundle ``version`` into: renamed to ``models_dir/version`` when
    the block ends, removed (nothing half-written left) when it raises."""
    tmp = models_dir / f".tmp-{version}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
        tmp.rename(models_dir / version)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def point_latest(models_dir: str | Path, version: str) -> None:
    """Atomically make ``models_dir/latest`` point at ``version``."""
    models_dir = Path(models_dir)
    link = models_dir / LATEST
    tmp = models_dir / f".{LATEST}.tmp"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(version, target_is_directory=True)
    os.replace(tmp, link)


def resolve_bundle(path: str | Path, models_dir: str | Path | None = None) -> Path:
    """The real bundle folder of ``path`` (following ``latest``); inside ``models_dir`` if given."""
    real = Path(path).resolve()
    if models_dir is not None:
        root = Path(models_dir).resolve()
        if root != real and root not in real.parents:
            raise BundleError(f"{path}: bundle paths must stay inside {root}")
    if not real.is_dir():
        raise BundleError(f"{path}: no bundle folder here")
    return real


def verify_bundle(path: str | Path) -> dict:
    """Check a bundle's manifest, file hashes and feature schema; return the manifest."""
    path = resolve_bundle(path)
    manifest_path = path / MANIFEST
    if not manifest_path.exists():
        raise BundleError(f"{path}: no {MANIFEST} (an incomplete or foreign folder)")
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as exc:
        raise BundleError(f"{manifest_path}: not valid JSON ({exc})") from exc
    for rel, expected in manifest.get("files", {}).items():
        f = path / rel
        if not f.exists():
            raise BundleError(f"{path}: {rel} is listed in the manifest but missing")
        if _sha256(f) != expected:
            raise BundleError(f"{path}: {rel} does not match its hash (corrupted or changed)")
    schema_file = path / "feature_schema.json"
    bundle_schema = json.loads(schema_file.read_text())
    problems = schema_differences(bundle_schema)
    if problems:
        raise BundleError(f"{path}: feature schema differs from the code: {'; '.join(problems)}")
    return manifest


def load_bundle(path: str | Path) -> Bundle:
    """Load and verify a bundle (hashes, schema, model/feature agreement)."""
    real = resolve_bundle(path)
    manifest = verify_bundle(real)
    try:
        model = RankingModel.load(real / "model.txt", compiled_file_in(real / COMPILED_PART),
                                  kind=str(manifest.get("training", {}).get("model", "lambdarank")))
    except Exception as exc:  # LightGBM raises its own error types
        raise BundleError(f"{real}: model.txt cannot be loaded ({exc})") from exc
    names = [row["name"] for row in json.loads((real / "feature_schema.json").read_text())]
    if model.feature_names != names:
        raise BundleError(f"{real}: the model's features differ from the bundle's schema")
    try:
        snapshot = FeatureSnapshot.load(real / "snapshot")
    except TokenizerVersionError as exc:
        raise BundleError(f"{real}: {exc}") from exc
    except Exception as exc:
        raise BundleError(f"{real}: the feature snapshot cannot be loaded ({exc})") from exc
    return Bundle(real, manifest, model, snapshot)
