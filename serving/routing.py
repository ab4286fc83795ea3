"""Which bundle and rules serve a request: experiment assignment turned into engines.

``Router`` holds the default engine, one engine per distinct bundle that a variant names,
and the :class:`~ranking.experiments.Assigner`. ``plan`` applies the request's
assignments layer by layer (a variant's bundle and rule overrides replace the current
ones), and for an interleaving experiment returns the two arms to merge.
:func:`forced_variants` reads the header QA uses to force variants
(:data:`~ranking.experiments.VARIANT_HEADER`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ranking.bundle import resolve_bundle
from ranking.engine import Engine
from ranking.experiments import (
    VARIANT_HEADER,
    Assigner,
    Assignment,
    ExperimentsConfig,
    load_experiments,
)
from ranking.settings import RulesSettings, Settings


@dataclass
class Arm:
    engine: Engine
    rules: RulesSettings
    name: str


@dataclass
class Plan:
    assignments: list[Assignment]
    primary: Arm
    interleave: tuple[Arm, Arm] | None = None

    @property
    def experiment(self) -> str | None:
        return ",".join(a.experiment for a in self.assignments) or None

    @property
    def variant(self) -> str | None:
        return ",".join(a.variant for a in self.assignments) or None


class Router:
    def __init__(self, default: Engine, settings: Settings, assigner: Assigner | None,
                 engines: dict[str, Engine]) -> None:
        self.default = default
        self.settings = settings
        self.assigner = assigner
        self.engines = engines  # resolved bundle path -> engine

    @classmethod
    def build(cls, default: Engine, settings: Settings, models_root: Path,
              previous: Router | None = None) -> Router:
        """Load the experiments config and every bundle it names; raise ValueError/BundleError."""
        path = settings.serving.experiments_file
        if not path:
            return cls(default, settings, None, {})
        config: ExperimentsConfig = load_experiments(path)
        engines: dict[str, Engine] = {}
        reuse = {str(default.bundle.path): default}
        if previous is not None:
            reuse.update(previous.engines)
        for bundle in sorted(config.bundles()):
            real = str(resolve_bundle(bundle, models_root))
            # tables built by the caller once the live catalog is laid over (serving/state.py)
            engines[real] = reuse.get(real) or Engine.load(real, settings, tables=False)
        return cls(default, settings, Assigner(config), engines)

    def close_unused(self, keep: Router) -> None:
        kept = {id(keep.default), *(id(e) for e in keep.engines.values())}
        for engine in self.engines.values():
            if id(engine) not in kept:
                engine.close()

    def _arm(self, base: Arm, experiment: str, variant: str) -> Arm:
        v = self.assigner.variant(experiment, variant)
        engine = base.engine
        if v.bundle:
            engine = self.engines[str(resolve_bundle(v.bundle))]
        rules = base.rules
        if v.rules:
            rules = RulesSettings.model_validate({**rules.model_dump(), **v.rules})
        return Arm(engine, rules, variant)

    def plan(self, unit: str, surface: str, override: dict[str, str] | None = None) -> Plan:
        base = Arm(self.default, self.settings.rules, self.settings.serving.variant)
        running = sorted(self.assigner.by_name) if self.assigner is not None else []
        for name in override or ():
            if name not in running:  # a forced variant that cannot apply must not pass silently
                raise ValueError(f"no experiment {name!r} is running (running: "
                                 f"{', '.join(running) or 'none'})")
        if self.assigner is None:
            return Plan([], base)
        assignments = self.assigner.assign(unit, surface, override)
        interleave = None
        for a in assignments:
            if a.mode == "interleave":
                variants = self.assigner.by_name[a.experiment].variants
                interleave = (self._arm(base, a.experiment, variants[0].name),
                              self._arm(base, a.experiment, variants[1].name))
            else:
                base = self._arm(base, a.experiment, a.variant)
        return Plan(assignments, base, interleave)


def forced_variants(header: str | None) -> dict[str, str] | None:
    """``experiment=variant[,experiment=variant]`` (QA forcing a variant); ValueError if malformed."""
    if not header:
        return None
    out = {}
    for part in header.split(","):
        name, sep, variant = part.partition("=")
        if not sep or not name.strip() or not variant.strip():
            raise ValueError(f"{VARIANT_HEADER} must look like 'experiment=variant', got {part!r}")
        out[name.strip()] = variant.strip()
    return out
