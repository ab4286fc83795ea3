"""Arms: one bundle served under two sets of settings, the same shoppers' sessions played
against each, GMV per session compared paired (``shelfrank experiment arms``).

The question it answers is "does serving X differently earn more per session?" when X is
a service-wide setting that an experiments config cannot split by user, above all the
live state: the same bundle ``live`` (the service reacting to the session's own clicks)
against ``frozen`` (``--set live.backend=off``). Each arm gets its own service on
loopback started with the arm's ``section.key=value`` overrides and its own event log;
:func:`training.experiments.closed_loop.simulate_traffic` plays the same sessions (the
same users, hours, missions and dice: common random numbers) against each, page after
page with each page's events posted before the next page. The comparison is paired by
session: the treatment's GMV per session minus the control's, with a normal 95% interval
over sessions, and the lift with the delta-method interval (``training.stats``). How a
service is started is the caller's (``serve``), so this module needs no web code.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import numpy as np

from ranking.settings import Settings, load_settings
from training.stats import mean_se, normal_ci95, paired_lift

# serve(bundle, events, overrides) -> a context manager yielding the service's base URL
ServeArm = Callable[[Path, Path, list[str]], AbstractContextManager[str]]
OUTCOMES = ("gmv", "orders", "clicks", "pages")


def check_arms(arms: dict[str, list[str]]) -> dict[str, Settings]:
    """Each arm's effective settings; two arms exactly, else a ``ValueError``; a bad
    override is pydantic's ``ValueError`` naming it."""
    if len(arms) != 2:
        raise ValueError(f"arms compares two arms (control, then treatment), got {len(arms)}: "
                         f"{', '.join(arms) or 'none'}")
    return {name: load_settings(overrides) for name, overrides in arms.items()}


def arm_summary(frame) -> dict:
    """Per-session means of an arm's outcomes, each with its normal 95% interval."""
    out: dict = {"sessions": len(frame)}
    for name in OUTCOMES:
        values = frame[name].to_numpy(float)
        mean = float(values.mean())
        out[f"{name}_per_session"] = {"value": mean, "ci95": normal_ci95(mean, mean_se(values))}
    return out


def compare_arms(control, treatment) -> dict:
    """Treatment minus control per session (the same session numbers), paired."""
    joined = control.merge(treatment, on="session", suffixes=("_c", "_t"), validate="one_to_one")
    if not (joined.user_id_c == joined.user_id_t).all():
        raise ValueError("the arms played different shoppers for the same session number")
    out: dict = {"paired_sessions": len(joined)}
    for name in ("gmv", "orders", "clicks"):
        t, c = joined[f"{name}_t"].to_numpy(float), joined[f"{name}_c"].to_numpy(float)
        d = t - c
        ci = normal_ci95(float(d.mean()), mean_se(d))
        lift = paired_lift(t, c, np.ones(len(d)))
        out[name] = {"difference_per_session": float(d.mean()), "ci95": ci,
                     "ci95_above_zero": bool(ci[0] > 0), "lift": lift["lift"], "lift_ci95": lift["ci95"]}
    return out


def run_arms(data: Path, bundle: Path, arms: dict[str, list[str]], sessions: int, seed: int,
             settings: Settings, serve: ServeArm, work: Path, page_size: int = 20,
             progress: bool = True) -> dict:
    """Serve ``bundle`` once per arm (``arms``: name -> overrides, control first), play the
    same ``sessions`` against each, and compare them paired by session."""
    from training.experiments.closed_loop import Shoppers, outcomes_frame, simulate_traffic

    check_arms(arms)
    shoppers = Shoppers(data, seed, settings.simulator, settings.channels.closed_loop_share)
    frames = {}
    for name, overrides in arms.items():
        events = work / name / "events"
        shutil.rmtree(events, ignore_errors=True)
        events.parent.mkdir(parents=True, exist_ok=True)
        with serve(bundle, events, overrides) as url:
            frames[name] = outcomes_frame(simulate_traffic(url, shoppers, sessions, page_size,
                                                           progress=progress))
    control, treatment = list(arms)
    return {"sessions": sessions, "seed": seed, "bundle": str(bundle),
            "arms": {name: {"overrides": arms[name], **arm_summary(f)} for name, f in frames.items()},
            "control": control, "treatment": treatment,
            "comparison": compare_arms(frames[control], frames[treatment]),
            "events": {name: str(work / name / "events") for name in arms}}
