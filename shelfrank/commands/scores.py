"""``shelfrank scores``: platform scores from raw events, and why a merchant has them."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from shelfrank.commands.paths import output_file
from shelfrank.context import current_settings, fail

scores_app = typer.Typer(help="Platform scores (store experience, product score, price advantage).",
                         invoke_without_command=True, no_args_is_help=False)


def register(app: typer.Typer) -> None:
    app.add_typer(scores_app, name="scores")


def _as_of(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO date or time: {value!r}", param_hint="--as-of") from exc


def _compute(data: Path, as_of: str | None):
    from ranking.contracts import ContractError
    from ranking.scores import compute_scores
    from ranking.scores.compute import ScoresDataError

    if not data.is_dir():
        raise typer.BadParameter(f"{data} is not a dataset folder", param_hint="--data")
    try:
        return compute_scores(data, _as_of(as_of), current_settings().scores)
    except (ContractError, ScoresDataError) as exc:
        fail(str(exc))


@scores_app.callback()
def scores(
    ctx: typer.Context,
    data: Annotated[Path | None, typer.Option("--data", help="dataset folder")] = None,
    as_of: Annotated[str | None, typer.Option(help="score as of this ISO date/time (UTC); "
                                                   "default just after the last event")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Parquet file for every store's and "
                                                           "product's scores")] = None,
) -> None:
    """Write every store's and product's scores with their dimensions to a Parquet file."""
    if ctx.invoked_subcommand:
        return
    if data is None or out is None:
        typer.echo(ctx.get_help())
        if data is not None or out is not None or as_of is not None:
            missing = " and ".join(o for o, v in (("--data", data), ("--out", out)) if v is None)
            fail(f"scores needs {missing} (or a subcommand)")
        raise typer.Exit(2)
    output_file(out, "--out")
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ranking.scores.explain import window_summary

    started = time.perf_counter()
    result = _compute(data, as_of)
    frame = result.to_frame()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)
    tmp.replace(out)
    s, p = result.stores, result.products
    typer.echo(f"{len(s):,} stores (experience score median {s.store_experience_score.median():.1f}, "
               f"{int(s.demoted.sum())} demoted), {len(p):,} products (grades "
               + ", ".join(f"{g} {n}" for g, n in p.product_grade.value_counts().sort_index().items())
               + f"; {int(p.banned.sum())} banned, {int(p.demoted.sum())} demoted)")
    window, warning = window_summary(result, current_settings().scores.window_days)
    typer.echo(window)
    if warning:
        typer.echo(warning, err=True)
    typer.echo(f"wrote {out} in {time.perf_counter() - started:.1f}s")


@scores_app.command("explain")
def explain(
    data: Annotated[Path, typer.Option("--data", help="dataset folder")],
    store: Annotated[int | None, typer.Option(help="a store id")] = None,
    product: Annotated[int | None, typer.Option(help="a product id")] = None,
    as_of: Annotated[str | None, typer.Option(help="as of this ISO date/time (UTC)")] = None,
) -> None:
    """Print a store's or product's score, each dimension and the event counts behind it."""
    from ranking.scores.explain import explain_product, explain_store

    if (store is None) == (product is None):
        raise typer.BadParameter("give exactly one of --store or --product")
    result = _compute(data, as_of)
    try:
        typer.echo(explain_store(result, store) if store is not None else explain_product(result, product))
    except KeyError as exc:
        typer.echo(f"error: {exc.args[0]}", err=True)
        raise typer.Exit(1) from exc


@scores_app.command("olist")
def olist(
    csv: Annotated[Path, typer.Option("--csv", help="olist_classified_public_dataset.csv")] = Path(
        "../shared/datasets/olist/olist_classified_public_dataset.csv"),
) -> None:
    """Real data: delivery lateness (as the logistics dimension counts it) vs review scores."""
    import json

    from training.real_data.olist import olist_lateness_vs_reviews

    if not csv.is_file():
        raise typer.BadParameter(f"{csv} not found" if not csv.exists() else f"{csv} is not a file",
                                 param_hint="--csv")
    try:
        result = olist_lateness_vs_reviews(csv)
    except (ValueError, OSError) as exc:  # pandas' parser errors are ValueErrors
        fail(f"{csv}: {exc}" if str(csv) not in str(exc) else str(exc))
    typer.echo(json.dumps(result, indent=2))
