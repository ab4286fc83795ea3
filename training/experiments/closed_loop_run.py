"""One closed-loop run: control and treatment served as an A/B test and an interleaving
experiment at once, simulated shoppers played against them, the log analysed, and the
treatment also estimated counterfactually from the mall's logs
(``shelfrank experiment closed-loop``; docs/experiments.md).

The two experiments share one layer (``closed_loop``), half the users each, on the
homepage only; the treatment may run its own rules (``treatment_rules``). How the service
is started is the caller's (``serve``: a context manager yielding the base URL of a
service that reads the config and writes its event log into ``events``), so this module
needs no web code.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from ranking.experiments import ExperimentsConfig
from ranking.settings import Settings

AB, INTERLEAVE = "closed_loop_ab", "closed_loop_interleave"
LOGGING_POLICY = "logging-policy"  # the control that imitates the mall's logging policy

# serve(models, events, config_path) -> a context manager yielding the service's base URL
Serve = Callable[[Path, Path, Path], AbstractContextManager[str]]


@dataclass
class ClosedLoopSetup:
    """The bundles linked into ``models/`` and the validated experiments config."""

    work: Path
    models: Path
    config_path: Path
    config: ExperimentsConfig


def closed_loop_config(models: Path, seed: int, treatment_rules: dict | None = None) -> dict:
    """The experiments config: an A/B test and an interleaving of control and treatment."""
    treatment = {"name": "treatment", "share": 0.5, "bundle": str(models / "treatment")}
    if treatment_rules:
        treatment["rules"] = treatment_rules

    def exp(name: str, mode: str) -> dict:
        return {
            "name": name,
            "layer": "closed_loop",
            "salt": f"{name}-{seed}",
            "traffic": 0.5,
            "mode": mode,
            "surfaces": ["homepage"],
            "variants": [
                {"name": "control", "share": 0.5, "bundle": str(models / "control")},
                dict(treatment),
            ],
        }

    return {"experiments": [exp(AB, "ab"), exp(INTERLEAVE, "interleave")]}


def link_copy(src: Path, dst: Path) -> None:
    """Copy a bundle folder as hard links where the file system allows (bundles are immutable)."""
    def link(a: str, b: str) -> None:
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)

    shutil.copytree(src.resolve(), dst, copy_function=link)


def control_bundle(control: str, data: Path, work: Path, settings: Settings,
                   say: Callable[[str], None]) -> Path:
    """The control bundle: the named folder, verified, or (``logging-policy``) one trained to
    imitate the mall's logging policy. Raises :class:`~ranking.bundle.BundleError`."""
    from ranking.bundle import verify_bundle

    if control == LOGGING_POLICY:
        from training.experiments.logging_policy import train_logging_policy_bundle

        say("training a bundle that imitates the logging policy ...")
        return train_logging_policy_bundle(data, work / "logging-policy-models", settings)
    verify_bundle(Path(control))
    return Path(control)


def stage(work: Path, treatment: Path, control: Path, seed: int,
          treatment_rules: dict | None) -> ClosedLoopSetup:
    """Link both bundles into ``work/models`` and write the config; a rule the treatment may
    not set is a ``ValueError`` (pydantic's) naming it."""
    models = work / "models"
    if models.exists():
        shutil.rmtree(models)
    models.mkdir(parents=True)
    link_copy(Path(treatment), models / "treatment")
    link_copy(control, models / "control")
    config = closed_loop_config(models, seed, treatment_rules)
    config_path = work / "experiments.json"
    config_path.write_text(json.dumps(config, indent=2))
    return ClosedLoopSetup(work, models, config_path, ExperimentsConfig.model_validate(config))


def ab_block(ab: dict, metric: str) -> dict:
    """Control, treatment and the lift with its interval for one A/B metric."""
    t = ab["treatment"][metric]
    return {
        "control": ab["control"][metric]["value"],
        "treatment": t["value"],
        "lift": t["lift"],
        "ci95": t["lift_ci95"],
        "difference_ci95_above_zero": bool(t["lift_ci95"][0] > 0),
    }


def run_closed_loop(setup: ClosedLoopSetup, data: Path, treatment: Path, control: Path,
                    sessions: int, seed: int, settings: Settings, serve: Serve,
                    treatment_rules: dict | None = None, counterfactual: bool = True) -> dict:
    """Serve, play ``sessions`` shoppers, analyse the log, and (``counterfactual``) estimate
    both arms from the mall's logs; the result the command prints."""
    from training.experiments.analysis import analyse_tables, load_tables
    from training.experiments.analysis_report import write_report
    from training.experiments.closed_loop import (
        Shoppers,
        detection_by_outcome,
        outcomes_frame,
        simulate_traffic,
    )
    from training.experiments.counterfactual_vs_online import (
        counterfactual_vs_online,
        estimate_gmv_per_session,
    )

    events = setup.work / "events"
    shutil.rmtree(events, ignore_errors=True)
    with serve(setup.models, events, setup.config_path) as url:
        outcomes = simulate_traffic(url, Shoppers(data, seed, settings.simulator,
                                                              settings.channels.closed_loop_share), sessions)
    frame = outcomes_frame(outcomes)
    tables, torn = load_tables(events)
    analysis = analyse_tables(tables, setup.config, torn)
    report = write_report(analysis, setup.work / "report")
    ab = analysis["experiments"][AB]["variants"]
    result: dict = {
        "sessions": len(frame),
        "pages": int(frame.pages.sum()),  # requests: a session is several homepage pages
        "ab": {"gmv_per_session": ab_block(ab, "gmv_per_request"), "ctr": ab_block(ab, "ctr")},
        "ab_requests": sum(v["requests"] for v in ab.values()),
        "ab_analysis": analysis["experiments"][AB],
        "interleaving": analysis["experiments"][INTERLEAVE],
    }
    # the headline is GMV: what the A/B block above and the mall are judged by
    result["sessions_to_detect"] = detection_by_outcome(tables, AB, INTERLEAVE, "control", "treatment", seed)
    if treatment_rules:
        result["treatment_rules"] = treatment_rules
    if counterfactual and treatment_rules:
        result["counterfactual"] = {"skipped": "the whole-page estimate replays both bundles under the "
                                               "shared rules, not the treatment's --treatment-rule"}
    elif counterfactual:
        result["counterfactual"] = estimate_gmv_per_session(
            Path(treatment), control, data, settings, result["ab"]["gmv_per_session"]["control"])
        result["counterfactual"]["vs_online"] = counterfactual_vs_online(
            result["counterfactual"]["gmv_per_session"], result["ab"]["gmv_per_session"])
    result["report"] = str(report)
    return result
