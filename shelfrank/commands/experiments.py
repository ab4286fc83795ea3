"""``shelfrank experiment analyze|closed-loop`` and ``shelfrank simulate-traffic``.

``analyze`` reads the service's event log and an experiments config and writes a report;
``simulate-traffic`` sends simulated shoppers to a running service; ``closed-loop`` does
the whole loop on loopback: serve control and treatment as an A/B test and an
interleaving experiment (two experiments in one layer, half the users each), play the
sessions, analyse the log, estimate the treatment counterfactually from the mall's logs,
and measure how many sessions each method needs to detect the difference. The use cases
live in ``training/experiments/`` (``closed_loop_run``, ``counterfactual_vs_online``,
``page_value``, ``analysis``); this module parses arguments, starts the local service the
closed loop plays against, and prints.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from shelfrank.commands.paths import output_dir, output_file
from shelfrank.context import current_settings, fail, settings_error
from training.experiments.closed_loop_run import AB, INTERLEAVE, LOGGING_POLICY

experiment_app = typer.Typer(help="Analyse experiments and run the closed loop.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(experiment_app, name="experiment")
    app.command("simulate-traffic")(simulate_traffic_command)


def _load_config(path: Path):
    from ranking.experiments import load_experiments

    try:
        return load_experiments(path)
    except (ValueError, OSError) as exc:
        fail(str(exc))


@experiment_app.command("analyze")
def analyze(
    events: Annotated[Path, typer.Option("--events", help="the service's event log folder")],
    config: Annotated[Path, typer.Option("--config", help="the experiments config the service ran")],
    out: Annotated[
        Path | None, typer.Option("--out", help="report folder (default reports/experiments)")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the analysis as JSON")] = None,
) -> None:
    """Per variant: users, requests, CTR, add-to-cart, conversion, GMV/user with 95% intervals and
    lift; sample-ratio check; latency guardrail; interleaving credit (clicks, orders, GMV) per
    request with a sign test and a mean-difference test."""
    from training.experiments.analysis import analyse_tables, load_tables
    from training.experiments.analysis_report import interleaving_summary, write_report

    if not events.is_dir():
        fail(f"{events}: no event log folder here")
    output_dir(out, "--out")
    output_file(json_out, "--json")
    cfg = _load_config(config)
    if not cfg.experiments:
        fail(f"{config}: the config defines no experiments")
    tables, torn = load_tables(events)
    result = analyse_tables(tables, cfg, torn)
    if result["requests"] == 0:
        fail(f"{events}: no exposures logged (was serving.log_exposures on?)")
    logged = set(tables["exposures"].experiment.dropna())
    if not logged & {e.name for e in cfg.experiments}:
        fail(f"{events}: none of the config's experiments ({', '.join(e.name for e in cfg.experiments)}) "
              f"is in the log (it has: {', '.join(sorted(logged)) or 'none'})")
    for name, e in result["experiments"].items():
        typer.echo(f"\n{name} ({e['mode']})")
        if e["mode"] == "interleave":
            for line in interleaving_summary(e):
                typer.echo(f"  {line}")
            continue
        srm = e["sample_ratio_mismatch"]
        typer.echo(
            f"  sample ratio: users {srm['observed_users']} p={srm['p_value']:.3g}"
            + ("  MISMATCH" if srm["mismatch"] else "")
        )
        for v, d in e["variants"].items():
            parts = [
                f"{m}={d[m]['value']:.4g}" + (f" ({d[m]['lift']:+.1%})" if "lift" in d[m] else "")
                for m in ("ctr", "add_to_cart_rate", "conversion", "gmv_per_user")
            ]
            typer.echo(
                f"  {v:<12} users={d['users']} requests={d['requests']} "
                + " ".join(parts)
                + f" p99={d['latency_ms']['p99']:.1f}ms"
            )
    path = write_report(result, out or Path("reports") / "experiments")
    typer.echo(f"\nreport: {path}")
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result, indent=2, default=str))


def simulate_traffic_command(
    url: Annotated[str, typer.Option("--url", help="base URL of a running service")],
    data: Annotated[Path, typer.Option("--data", help="the simulated mall (users, truth)")],
    sessions: Annotated[int, typer.Option("--sessions", min=1, help="homepage sessions to play (each "
                                                                    "several pages)")] = 1000,
    config: Annotated[
        Path | None, typer.Option("--config", help="experiments config (to check variants)")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64)] = 4,
    seed: Annotated[int, typer.Option(min=0)] = 7,
    json_out: Annotated[Path | None, typer.Option("--json", help="per-variant summary as JSON")] = None,
) -> None:
    """Simulated shoppers visit the homepage over HTTP and click and buy according to the truth."""
    import httpx2

    from training.experiments.closed_loop import Shoppers, outcomes_frame, simulate_traffic

    if not (data / "truth").is_dir():
        fail(f"{data}: not a simulated mall (no truth/ folder)")
    output_file(json_out, "--json")
    if config is not None:
        _load_config(config)
    try:
        httpx2.get(f"{url}/readyz", timeout=5).raise_for_status()
    except httpx2.HTTPError as exc:
        fail(f"{url} is not a ready Shelfrank service: {exc}")
    shoppers = Shoppers(data, seed, current_settings().simulator)
    frame = outcomes_frame(simulate_traffic(url, shoppers, sessions, concurrency=concurrency))
    summary = frame.groupby(frame.variant.fillna("-")).agg(
        sessions=("session", "size"),
        pages_per_session=("pages", "mean"),
        clicks_per_session=("clicks", "mean"),
        orders_per_session=("orders", "mean"),
        gmv_per_session=("gmv", "mean"),
        latency_p99_ms=("latency_ms", lambda s: s.quantile(0.99)),
    )
    typer.echo(summary.to_string(float_format=lambda x: f"{x:.4f}"))
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(summary.to_json(orient="index", indent=2))


TreatmentRules = Annotated[
    list[str] | None,
    typer.Option("--treatment-rule", help="KEY=VALUE override of rules.* for the treatment only "
                                           "(repeatable), e.g. value_weight=0.5"),
]


def _rule_overrides(pairs: list[str]) -> dict:
    """``["value_weight=0.5"]`` -> ``{"value_weight": 0.5}``, parsed as ``--set`` parses
    (values read as JSON, else text)."""
    from ranking.settings import parse_overrides

    try:
        return parse_overrides(pairs)
    except ValueError:
        fail(f"--treatment-rule wants KEY=VALUE, got {pairs!r}")


@experiment_app.command("closed-loop")
def closed_loop(
    data: Annotated[Path, typer.Option("--data", help="the simulated mall both bundles were trained on")],
    treatment: Annotated[Path, typer.Option("--treatment", help="the candidate bundle")],
    control: Annotated[
        str,
        typer.Option(
            "--control",
            help="a bundle folder, or 'logging-policy' for a bundle that imitates the mall's logging policy",
        ),
    ] = LOGGING_POLICY,
    sessions: Annotated[int, typer.Option("--sessions", min=100, help="homepage visits in all")] = 20_000,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the result here")] = None,
    work: Annotated[
        Path | None, typer.Option(help="folder for the models, log and report (default temp)")
    ] = None,
    seed: Annotated[int, typer.Option(min=0)] = 7,
    treatment_rule: TreatmentRules = None,
    counterfactual: Annotated[
        bool, typer.Option(help="also estimate both arms from the mall's logs (a few minutes)")
    ] = True,
) -> None:
    """Serve control and treatment on loopback, play simulated shoppers, analyse, compare."""
    from ranking.bundle import BundleError, verify_bundle
    from training.experiments.closed_loop_run import control_bundle, run_closed_loop, stage

    settings = current_settings()
    treatment_rules = _rule_overrides(treatment_rule or [])
    if not (data / "truth").is_dir():
        fail(f"{data}: not a simulated mall (no truth/ folder)")
    output_dir(work, "--work")
    output_file(json_out, "--json")
    work = Path(work or tempfile.mkdtemp(prefix="shelfrank-closed-loop-")).resolve()
    try:
        verify_bundle(treatment)
        control_path = control_bundle(control, data, work, settings, say=typer.echo)
    except BundleError as exc:
        fail(str(exc))
    try:
        setup = stage(work, treatment, control_path, seed, treatment_rules)
    except ValueError as exc:
        fail(f"--treatment-rule: {settings_error(exc)}")
    result = run_closed_loop(setup, data, treatment, control_path, sessions, seed, settings, _served,
                             treatment_rules=treatment_rules, counterfactual=counterfactual)
    text = json.dumps(result, indent=2, default=str)
    typer.echo(text)
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(text)


@contextmanager
def _served(models: Path, events: Path, config_path: Path) -> Iterator[str]:
    """The service on loopback serving the closed loop's config; its base URL. Its simulated
    shoppers post events as an unauthenticated frontend at full speed, so this private
    loopback service keeps writes open (no token) and unthrottled."""
    from shelfrank.local_service import start_service, stop_service

    proc, url = start_service(
        models, events, extra=[f"serving.experiments_file={config_path}", "serving.admin_token=",
                               "serving.write_rate_per_second=0"], bundle=models / "treatment"
    )
    try:
        yield url
    finally:
        stop_service(proc)


@experiment_app.command("arms")
def arms_command(
    data: Annotated[Path, typer.Option("--data", help="a simulated mall (needs its truth/ folder)")],
    bundle: Annotated[Path, typer.Option("--bundle", help="the bundle every arm serves")],
    arm: Annotated[list[str], typer.Option("--arm", help="an arm's name (twice: control first, then "
                                                         "treatment), e.g. --arm frozen --arm live")],
    arm_set: Annotated[list[str] | None, typer.Option(
        "--arm-set", help="NAME:section.key=value, a settings override of one arm's service "
                          "(repeatable), e.g. frozen:live.backend=off")] = None,
    sessions: Annotated[int, typer.Option("--sessions", min=10, help="sessions played per arm")] = 2000,
    seed: Annotated[int, typer.Option(min=0, help="the shoppers' seed (the same in both arms)")] = 7,
    work: Annotated[Path | None, typer.Option(help="folder for each arm's event log (default temp)")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the result here")] = None,
) -> None:
    """One bundle served under two arms' settings (e.g. live vs frozen), the same multi-page sessions
    played against each, GMV per session compared paired with a 95% interval (docs/simulator.md)."""
    from ranking.bundle import BundleError, verify_bundle
    from training.experiments.session_arms import check_arms, run_arms

    arms: dict[str, list[str]] = {name: [] for name in arm}
    for pair in arm_set or []:
        name, sep, override = pair.partition(":")
        if not sep or name not in arms or "=" not in override:
            fail(f"--arm-set wants NAME:section.key=value with NAME one of {', '.join(arms)}, got {pair!r}")
        arms[name].append(override)
    if not (data / "truth").is_dir():
        fail(f"{data}: not a simulated mall (no truth/ folder)")
    try:
        check_arms(arms)
        verify_bundle(bundle)
    except BundleError as exc:
        fail(str(exc))
    except ValueError as exc:
        fail(f"--arm: {settings_error(exc)}")
    output_dir(work, "--work")
    output_file(json_out, "--json")
    work = Path(work or tempfile.mkdtemp(prefix="shelfrank-arms-")).resolve()
    result = run_arms(data, bundle.resolve(), arms, sessions, seed, current_settings(), _served_arm, work)
    text = json.dumps(result, indent=2)
    typer.echo(text)
    g = result["comparison"]["gmv"]
    typer.echo(f"\nGMV per session, {result['treatment']} - {result['control']}: "
               f"{g['difference_per_session']:+.2f} [{g['ci95'][0]:+.2f}, {g['ci95'][1]:+.2f}], "
               f"lift {g['lift']:+.1%} over {result['comparison']['paired_sessions']} paired sessions")
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(text)


@experiment_app.command("catalog-change")
def catalog_change_command(
    data: Annotated[Path, typer.Option("--data", help="a simulated mall (needs its truth/ folder)")],
    bundle: Annotated[Path, typer.Option("--bundle", help="the bundle served")],
    sessions: Annotated[int, typer.Option("--sessions", min=20, help="sessions played, half before "
                                                                     "the change and half after")] = 2000,
    cut_products: Annotated[int, typer.Option("--cut-products", min=1, help="how many products' prices "
                                                                             "are cut")] = 20,
    cut_share: Annotated[float, typer.Option(
        "--cut-share", min=0.01, max=0.9, help="the price cut, as a share of the price")] = 0.3,
    seed: Annotated[int, typer.Option(min=0, help="the shoppers' seed")] = 7,
    work: Annotated[Path | None, typer.Option(help="folder for the event log (default temp)")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the result here")] = None,
) -> None:
    """Ban the most shown product and cut the prices of the next ones halfway through a closed
    loop, through the catalog API; what the log shows after (docs/simulator.md)."""
    from ranking.bundle import BundleError, verify_bundle
    from training.experiments.catalog_change import run_catalog_change

    if not (data / "truth").is_dir():
        fail(f"{data}: not a simulated mall (no truth/ folder)")
    try:
        verify_bundle(bundle)
    except BundleError as exc:
        fail(str(exc))
    output_dir(work, "--work")
    output_file(json_out, "--json")
    work = Path(work or tempfile.mkdtemp(prefix="shelfrank-catalog-change-")).resolve()
    result = run_catalog_change(data, bundle.resolve(), sessions, seed, current_settings().simulator,
                                _served_arm, work, cut_products, cut_share)
    text = json.dumps(result, indent=2)
    typer.echo(text)
    ban, orders = result["ban"], result["price_cut"]["order_share"]
    typer.echo(f"\nbanned product {ban['product_id']}: {ban['impressions_before']} impressions before, "
               f"{ban['impressions_after']} after it was visible ({result['visible_after_ms']} ms)")
    before, after = orders["before"]["share"], orders["after"]["share"]
    typer.echo(f"cut products' share of orders: {before:.2%} -> {after:.2%} "
               f"({orders['difference']:+.2%} [{orders['ci95'][0]:+.2%}, {orders['ci95'][1]:+.2%}])")
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(text)


@contextmanager
def _served_arm(bundle: Path, events: Path, overrides: list[str]) -> Iterator[str]:
    """The service on loopback serving ``bundle`` with one arm's settings overrides; its base URL."""
    from shelfrank.local_service import start_service, stop_service

    # simulated shoppers post as an unauthenticated frontend at full speed: this private loopback
    # service keeps writes open and unthrottled, as the closed loop's does (an arm may override)
    open_writes = ["serving.admin_token=", "serving.write_rate_per_second=0"]
    proc, url = start_service(bundle.parent, events, extra=[*open_writes, *overrides], bundle=bundle)
    try:
        yield url
    finally:
        stop_service(proc)


@experiment_app.command("sessions-to-detect")
def sessions_to_detect_command(
    events: Annotated[Path, typer.Option("--events", help="an event log with an A/B experiment and an "
                                                          "interleaving of the same two variants")],
    ab: Annotated[str, typer.Option("--ab", help="the A/B experiment's name")] = AB,
    interleave: Annotated[
        str, typer.Option("--interleave", help="the interleaving experiment's name")] = INTERLEAVE,
    control: Annotated[str, typer.Option()] = "control",
    treatment: Annotated[str, typer.Option()] = "treatment",
    seed: Annotated[int, typer.Option(min=0)] = 7,
    credit_shared: Annotated[bool, typer.Option(
        help="credit the cards both variants' pages held (--no-credit-shared leaves them out)")] = True,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the result here")] = None,
) -> None:
    """How many sessions an A/B test and interleaving each need to find the A/B winner (80% power),
    for GMV, clicks and orders, by resampling a log (a closed loop's work folder's events/)."""
    from training.experiments.analysis import load_tables
    from training.experiments.closed_loop import detection_by_outcome

    if not events.is_dir():
        fail(f"{events}: no event log folder here")
    output_file(json_out, "--json")
    tables, _ = load_tables(events)
    try:
        result = detection_by_outcome(tables, ab, interleave, control, treatment, seed, credit_shared)
    except ValueError as exc:
        fail(str(exc))
    typer.echo(f"{'outcome':<8} {'winner':<10} {'A/B':>8} {'interleaving (sign)':>20} {'(mean)':>8} "
               f"{'A/B / il':>9}")
    for outcome, r in result["by_outcome"].items():
        def cell(n, r=r):
            return f"{n:,}" if n else f">{r['searched_up_to']:,}"

        ratio = f"{r['ab_over_interleaving']:.1f}x" if r.get("ab_over_interleaving") else "-"
        typer.echo(f"{outcome:<8} {r['winner'] or '-':<10} {cell(r['ab']):>8} {cell(r['interleaving']):>20} "
                   f"{cell(r['interleaving_mean_test']):>8} {ratio:>9}")
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result, indent=2))


@experiment_app.command("counterfactual")
def counterfactual_command(
    data: Annotated[Path, typer.Option("--data", help="the simulated mall both bundles were trained on")],
    treatment: Annotated[Path, typer.Option("--treatment", help="the candidate bundle")],
    control: Annotated[Path, typer.Option("--control", help="the control bundle (e.g. a closed loop's "
                                                            "logging-policy-models/latest)")],
    online: Annotated[
        Path | None, typer.Option("--online", help="a closed-loop result JSON to compare with")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the result here")] = None,
) -> None:
    """The closed loop's counterfactual step alone: both bundles' homepage GMV per session and
    the lift, estimated from the mall's logs (no serving), optionally against an online result."""
    from ranking.bundle import BundleError, verify_bundle
    from ranking.contracts import ContractError
    from training.experiments.counterfactual_vs_online import (
        counterfactual_vs_online,
        estimate_gmv_per_session,
    )

    try:
        verify_bundle(treatment)
        verify_bundle(control)
    except BundleError as exc:
        fail(str(exc))
    output_file(json_out, "--json")
    settings = current_settings()
    ab = None
    if online is not None:
        try:
            ab = json.loads(online.read_text())["ab"]["gmv_per_session"]
        except OSError as exc:
            fail(f"--online {online}: cannot read it ({exc.strerror or exc})")
        except (ValueError, KeyError, TypeError):
            fail(f"--online {online}: not a closed-loop result (JSON with ab.gmv_per_session)")
    try:
        result = estimate_gmv_per_session(treatment, control, data, settings,
                                          ab["control"] if ab else math.nan)
    except ContractError as exc:
        fail(str(exc))
    if ab:
        result["vs_online"] = counterfactual_vs_online(result["gmv_per_session"], ab)
    text = json.dumps(result, indent=2, default=str)
    typer.echo(text)
    g = result["gmv_per_session"]
    typer.echo(f"\ncounterfactual GMV/session: treatment {g['treatment']:.1f}, control {g['control']:.1f}, "
               f"lift {g['lift']:+.1%} [{g['lift_ci95'][0]:+.1%}, {g['lift_ci95'][1]:+.1%}] "
               f"({result['seconds']:.0f}s)")
    if ab:
        v = result["vs_online"]
        typer.echo(f"online lift {v['online_lift']:+.1%} [{v['online_lift_ci95'][0]:+.1%}, "
                   f"{v['online_lift_ci95'][1]:+.1%}]: inside {v['inside_online_ci95']}, "
                   f"error {v['lift_error_points'] * 100:+.1f} points")
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(text)


@experiment_app.command("page-value")
def page_value_command(
    data: Annotated[Path, typer.Option("--data", help="a simulated mall (needs its truth/ folder)")],
    treatment: Annotated[Path, typer.Option("--treatment", help="the candidate bundle")],
    control: Annotated[Path | None, typer.Option("--control", help="a bundle to compare with")] = None,
    treatment_rule: TreatmentRules = None,
    contexts: Annotated[int, typer.Option(min=10, help="closed-loop sessions replayed")] = 3000,
    seed: Annotated[int, typer.Option(min=0, help="the closed loop's seed (same shoppers)")] = 7,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the result here")] = None,
    progress: Annotated[bool, typer.Option(help="show progress bars")] = True,
) -> None:
    """Expected clicks, orders and GMV per homepage page from the simulator's truth: the closed
    loop's expected result in a minute, without serving or dice (docs/experiments.md)."""
    from ranking.bundle import BundleError, verify_bundle
    from ranking.settings import with_rule_overrides
    from training.experiments.page_value import page_value

    settings = current_settings()
    rules = _rule_overrides(treatment_rule or [])
    if not (data / "truth").is_dir():
        fail(f"{data}: not a simulated mall (no truth/ folder)")
    output_file(json_out, "--json")
    try:
        verify_bundle(treatment)
        if control is not None:
            verify_bundle(control)
    except BundleError as exc:
        fail(str(exc))
    try:
        treatment_settings = with_rule_overrides(settings, rules)
    except ValueError as exc:
        fail(f"--treatment-rule: {settings_error(exc)}")
    result = page_value(data, treatment, settings, control=control, treatment_settings=treatment_settings,
                        contexts=contexts, seed=seed, progress=progress)
    if rules:
        result["treatment_rules"] = rules
    text = json.dumps(result, indent=2)
    typer.echo(text)
    arms = [a for a in ("control", "treatment") if a in result]
    typer.echo(f"\nper page over {contexts} closed-loop sessions ({result['seconds']:.0f}s):")
    for outcome in ("clicks", "orders", "gmv"):
        cells = [f"{a} {result[a][outcome]['per_page']:.3f}" for a in arms]
        if "lift" in result and result["lift"][outcome]["lift"] is not None:
            lf = result["lift"][outcome]
            cells.append(f"lift {lf['lift']:+.1%} [{lf['ci95'][0]:+.1%}, {lf['ci95'][1]:+.1%}]")
        typer.echo(f"  {outcome:7s} " + ", ".join(cells))
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(text)


@experiment_app.command("channel-pacing")
def channel_pacing_command(
    data: Annotated[Path, typer.Option("--data", help="a simulated mall (needs its truth/ folder)")],
    bundle: Annotated[Path, typer.Option("--bundle", help="the bundle serving the subsidy channel")],
    pages: Annotated[int, typer.Option(min=10, help="subsidy-channel pages in the simulated day")] = 400,
    page_size: Annotated[int, typer.Option(min=1, max=100, help="cards per page")] = 20,
    seed: Annotated[int, typer.Option(min=0, help="the day's draws (the same in both arms)")] = 7,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the result here")] = None,
) -> None:
    """One simulated day of the subsidy channel with its brands' pacing on and off: the
    end-of-day pacing error against each brand's daily promise, and the orders and GMV it costs
    (docs/channels.md)."""
    from ranking.bundle import BundleError, verify_bundle
    from training.experiments.channel_pacing import channel_pacing

    if not (data / "truth").is_dir():
        fail(f"{data}: not a simulated mall (no truth/ folder)")
    output_file(json_out, "--json")
    try:
        verify_bundle(bundle)
    except BundleError as exc:
        fail(str(exc))
    result = channel_pacing(bundle, data, current_settings(), pages=pages, page_size=page_size, seed=seed)
    text = json.dumps(result, indent=2)
    typer.echo(text)
    for name, arm in result["arms"].items():
        typer.echo(f"{name:8s} pacing error (mean |delivered/promise - 1|) "
                   f"{arm['mean_abs_pacing_error']:.3f} over {arm['brands']} brands, "
                   f"orders {arm['orders']:.1f}, GMV {arm['gmv']:.0f}")
    for outcome, lf in result["paced_over_unpaced"].items():
        low, high = lf["ci95"]
        typer.echo(f"paced over unpaced {outcome}: {lf['lift']:+.1%} [{low:+.1%}, {high:+.1%}]")
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(text)
