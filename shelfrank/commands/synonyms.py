"""``shelfrank synonyms mine``: synonym candidates from a query log, as ``/v1/synonyms`` imports them
(training/merchandising/synonym_mining.py, docs/merchandising.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from shelfrank.commands.paths import output_file
from shelfrank.context import current_settings, fail

synonyms_app = typer.Typer(help="The operator's synonym sets: mine candidates from a query log.",
                           no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(synonyms_app, name="synonyms")


@synonyms_app.command("mine")
def mine(
    queries: Annotated[Path, typer.Option("--queries", help="query log (CSV or Parquet): query, product_id, "
                                          "title, optional relevance or clicks (Home Depot's names work)")],
    out: Annotated[Path, typer.Option("--out", help="write the synonym sets here (JSON list)")],
    titles: Annotated[Path | None, typer.Option("--titles", help="product_id, title of the catalog, when "
                                                "the log has no titles")] = None,
    spelling: Annotated[bool | None, typer.Option(
        "--spelling/--no-spelling", help="read queries spelling-corrected against the titles, as the "
                                         "service searches them; default: recall.spelling_correction"),
    ] = None,
) -> None:
    """One-way synonym candidates: query words the titles they lead to lack, and the title words
    other queries reach those products by (thresholds: merchandising.mine_*)."""
    from training.merchandising.synonym_mining import (
        catalog_speller,
        mine_synonyms,
        read_query_log,
        synonyms_json,
    )

    output_file(out, "--out")
    try:
        log = read_query_log(queries, titles)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    settings = current_settings()
    recall = settings.recall if spelling is None else \
        settings.recall.model_copy(update={"spelling_correction": spelling})
    correct = catalog_speller(log, recall)
    found = mine_synonyms(log, settings.merchandising, source=queries.name, correct=correct)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(synonyms_json(found), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    typer.echo(f"{len(found)} synonym sets from {log['query'].nunique()} queries -> {out}")
    for synonym in found[:10]:
        typer.echo(f"  {synonym.terms[0]} -> {', '.join(synonym.terms[1:])}")
