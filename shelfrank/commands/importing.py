"""``shelfrank import``: a real mall's CSV or Parquet exports into a dataset folder, through a
mapping file; the work is in ``training/data/mall_import.py``, this module parses and prints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shelfrank.commands.paths import output_dir
from shelfrank.context import current_settings, fail


def register(app: typer.Typer) -> None:
    app.command("import")(import_mall)


def import_mall(
    mapping: Annotated[Path, typer.Argument(help="mapping file (TOML, or JSON for .json): source file -> "
                                                 "table, source column -> contract column, defaults, value "
                                                 "maps, timestamp formats (docs/bring_your_own_mall.md)")],
    out: Annotated[Path, typer.Option("--out", help="new dataset folder to write")],
) -> None:
    """Convert the mapped source files to the data contracts and write OUT/<table>.parquet; a bad cell
    stops it (exit 2, nothing written) with its file, row and column. Check the result with
    `shelfrank validate OUT`."""
    from training.data.import_mapping import MappingError
    from training.data.mall_import import SourceDataError
    from training.data.mall_import import import_mall as run

    output_dir(out, "--out")
    try:
        summary = run(mapping, out, timezone=current_settings().mall.timezone)
    except (MappingError, SourceDataError) as exc:
        fail(f"{exc}\nnothing was written")
    for table, rows in summary.rows.items():
        lost = f"  (empty: {summary.empty[table]})" if summary.empty.get(table) else ""
        typer.echo(f"{table:>16}: {rows:>12,} rows{lost}")
    if summary.queries_from_text:
        typer.echo(f"queries: {summary.queries_from_text:,} distinct searched texts hashed to query_id")
    typer.echo(f"wrote {out}; check it with `shelfrank validate {out}`")
