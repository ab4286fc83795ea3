"""Experiments: config, deterministic hashed assignment, and team-draft interleaving.

A config file (JSON or TOML) lists experiments. Each belongs to a **layer**: experiments
in one layer split that layer's traffic and exclude each other; experiments in
different layers overlap (independent hashes), each deciding what it sets (bundle and/or
rule settings; a later layer's settings override an earlier one's). Within an experiment,
variants split its units by their shares.

Assignment is a pure function of the unit (the user id; the request id for anonymous
visitors), the layer name and the experiment's salt: ``bucket = BLAKE2b(salt ":" unit)
/ 2^64``, so it is the same in every worker, across restarts and in offline analysis.
Changing a salt reshuffles an experiment's units without touching the other layers.

``mode = "interleave"`` (exactly two variants) serves every unit of the experiment a
team-draft interleaving of both variants' rankings and records which variant
contributed each card.

A client forces variants (QA, the closed loop) with the header :data:`VARIANT_HEADER`,
``experiment=variant[,experiment=variant]``.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ranking.settings import RulesSettings
from ranking.surfaces import SURFACES, Surface

VARIANT_HEADER = "X-Shelfrank-Variant"  # forces a request's variants: experiment=variant[,...]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VariantConfig(_Strict):
    name: str = Field(..., min_length=1)
    share: float = Field(..., gt=0, le=1)
    bundle: str | None = Field(None, description="bundle folder inside the models directory; "
                                                "None = the service's default bundle")
    rules: dict[str, Any] = Field({}, description="overrides of settings rules.*")

    @model_validator(mode="after")
    def _rules_are_known(self) -> VariantConfig:
        RulesSettings.model_validate({**RulesSettings().model_dump(), **self.rules})
        return self


class ExperimentConfig(_Strict):
    name: str = Field(..., min_length=1)
    layer: str = "default"
    salt: str = Field(..., min_length=1)
    traffic: float = Field(1.0, gt=0, le=1, description="share of the layer's units")
    mode: Literal["ab", "interleave"] = "ab"
    credit: Literal["clicks", "orders", "gmv"] = Field(
        "gmv", description="interleaving: which outcome of a variant's cards names the winner")
    credit_test: Literal["sign", "mean"] = Field(
        "sign", description="interleaving: winner by requests won (sign test) or by mean credit")
    surfaces: list[Surface] = list(SURFACES)
    variants: list[VariantConfig] = Field(..., min_length=1)

    @model_validator(mode="after")
    def _shares(self) -> ExperimentConfig:
        total = sum(v.share for v in self.variants)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"experiment {self.name!r}: variant shares sum to {total}, not 1")
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"experiment {self.name!r}: variant names repeat")
        if self.mode == "interleave" and len(self.variants) != 2:
            raise ValueError(f"experiment {self.name!r}: interleaving needs exactly two variants")
        return self


class ExperimentsConfig(_Strict):
    experiments: list[ExperimentConfig] = []

    @model_validator(mode="after")
    def _layers(self) -> ExperimentsConfig:
        names = [e.name for e in self.experiments]
        if len(set(names)) != len(names):
            raise ValueError("experiment names repeat")
        for layer in {e.layer for e in self.experiments}:
            total = sum(e.traffic for e in self.experiments if e.layer == layer)
            if total > 1 + 1e-6:
                raise ValueError(f"layer {layer!r}: experiments take {total:.3f} of its traffic (> 1)")
        return self

    def bundles(self) -> set[str]:
        return {v.bundle for e in self.experiments for v in e.variants if v.bundle}


def load_experiments(path: str | Path) -> ExperimentsConfig:
    """Read and validate a config (``.toml`` or ``.json``); raise ValueError with the reason."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text()) if path.suffix == ".toml" else json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read the experiments config ({exc})") from exc
    try:
        return ExperimentsConfig.model_validate(raw)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def bucket(salt: str, unit: str) -> float:
    """Deterministic uniform number in [0, 1) for (salt, unit)."""
    digest = hashlib.blake2b(f"{salt}:{unit}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2**64


@dataclass(frozen=True)
class Assignment:
    experiment: str
    variant: str
    mode: str
    layer: str


class Assigner:
    """Assigns units to (experiment, variant) per layer."""

    def __init__(self, config: ExperimentsConfig) -> None:
        self.config = config
        self.layers: dict[str, list[ExperimentConfig]] = {}
        for e in config.experiments:
            self.layers.setdefault(e.layer, []).append(e)
        self.by_name = {e.name: e for e in config.experiments}

    def assign(self, unit: str, surface: str | None = None,
               override: dict[str, str] | None = None) -> list[Assignment]:
        out = []
        for layer, experiments in self.layers.items():
            chosen = None
            if override:
                chosen = next((e for e in experiments if e.name in override), None)
            if chosen is None:
                u, lo = bucket(f"layer:{layer}", unit), 0.0
                for e in experiments:
                    if lo <= u < lo + e.traffic:
                        chosen = e
                        break
                    lo += e.traffic
            if chosen is None or (surface is not None and surface not in chosen.surfaces):
                continue
            if override and chosen.name in override:
                variant = next((v for v in chosen.variants if v.name == override[chosen.name]), None)
                if variant is None:
                    raise ValueError(f"experiment {chosen.name!r} has no variant "
                                     f"{override[chosen.name]!r}")
            else:
                v, cum = bucket(chosen.salt, unit), 0.0
                variant = chosen.variants[-1]
                for candidate in chosen.variants:
                    cum += candidate.share
                    if v < cum:
                        variant = candidate
                        break
            out.append(Assignment(chosen.name, variant.name, chosen.mode, layer))
        return out

    def variant(self, experiment: str, variant: str) -> VariantConfig:
        return next(v for v in self.by_name[experiment].variants if v.name == variant)


def team_draft(a: np.ndarray, b: np.ndarray, k: int, rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray]:
    """Team-draft interleaving of rankings ``a`` and ``b`` (best first) into ``k`` items.

    Each round the team with fewer picks (a coin flip on a tie) adds its best item not
    yet chosen. Returns (items, team) with team 0 for ``a`` and 1 for ``b``.
    """
    chosen: list[int] = []
    team: list[int] = []
    seen: set[int] = set()
    ia = ib = 0
    count = [0, 0]
    lists = (list(map(int, a)), list(map(int, b)))
    limit = min(k, len(set(lists[0]) | set(lists[1])))
    while len(chosen) < limit:
        first = 0 if count[0] < count[1] else 1 if count[1] < count[0] else int(rng.integers(2))
        for t in (first, 1 - first):
            idx = ia if t == 0 else ib
            items = lists[t]
            while idx < len(items) and items[idx] in seen:
                idx += 1
            if t == 0:
                ia = idx
            else:
                ib = idx
            if idx < len(items):
                chosen.append(items[idx])
                team.append(t)
                seen.add(items[idx])
                count[t] += 1
                break
    return np.asarray(chosen, dtype=np.int64), np.asarray(team, dtype=np.int8)
