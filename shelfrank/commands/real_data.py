"""``shelfrank eval``: search recall, reranking and homepage recall on real public datasets.

``eval split-home-depot`` / ``eval split-taobao`` make a development split of the shared
files (by query; by last day); ``eval home-depot``, ``eval taobao`` and ``eval next-item``
print a table and write the metrics as JSON (shapes in docs/real_data.md).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer

from shelfrank.commands.paths import output_dir, output_file
from shelfrank.context import current_settings, fail

eval_app = typer.Typer(help="Evaluate recall and ranking on real public datasets.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")


def _table(rows: dict[str, dict[str, float]], title: str) -> None:
    methods = list(next(iter(rows.values())))
    typer.echo(f"\n{title}")
    typer.echo(f"{'metric':<12}" + "".join(f"{m:>14}" for m in methods))
    for metric, values in rows.items():
        cells = "".join(
            f"{values[m]:>14.4f}" if not math.isnan(values[m]) else f"{'n/a':>14}" for m in methods
        )
        typer.echo(f"{metric:<12}{cells}")


def _write(out: Path | None, result: dict) -> None:
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))
        typer.echo(f"\nwrote {out}")


@eval_app.command("split-home-depot")
def split_home_depot(
    source: Annotated[Path, typer.Argument(help="search_relevance_dev.csv.gz")],
    out: Annotated[Path, typer.Option("--out", help="folder for train.csv.gz and test.csv.gz")],
    test_fraction: Annotated[float | None, typer.Option(help="share of queries held out")] = None,
    seed: Annotated[int | None, typer.Option(min=0)] = None,
) -> None:
    """Split Home Depot pairs by query (a query's pairs stay together)."""
    from training.real_data.home_depot import read_pairs, split_by_query

    rd = current_settings().real_data
    output_dir(out, "--out")
    try:
        pairs = read_pairs(source)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    fraction = rd.test_fraction if test_fraction is None else test_fraction
    if not 0 < fraction < 1:
        fail("--test-fraction must be between 0 and 1")
    train, test = split_by_query(pairs, fraction, rd.seed if seed is None else seed)
    out.mkdir(parents=True, exist_ok=True)
    train.to_csv(out / "train.csv.gz", index=False)
    test.to_csv(out / "test.csv.gz", index=False)
    typer.echo(
        f"train: {train.search_term.nunique()} queries, {len(train)} pairs; "
        f"test: {test.search_term.nunique()} queries, {len(test)} pairs -> {out}"
    )


@eval_app.command("split-taobao")
def split_taobao(
    source: Annotated[Path, typer.Argument(help="UserBehavior csv(.gz), no header")],
    out: Annotated[Path, typer.Option("--out", help="folder for train.csv.gz and test.csv.gz")],
) -> None:
    """Hold out the last local day (Asia/Shanghai) as the test file."""
    from training.real_data.taobao import read_events, split_by_last_day

    output_dir(out, "--out")
    try:
        events = read_events(source)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    train, test = split_by_last_day(events)
    if train.empty:
        fail(f"{source}: every event is on one local day; nothing is left to train on")
    out.mkdir(parents=True, exist_ok=True)
    train.to_csv(out / "train.csv.gz", index=False, header=False)
    test.to_csv(out / "test.csv.gz", index=False, header=False)
    typer.echo(f"train: {len(train)} events; test (last day): {len(test)} events -> {out}")


def _say_home_depot(result: dict, sentence_asked: bool, synonyms_given: bool) -> None:
    """Print what ``eval home-depot`` measured: what it used, then the recall and NDCG tables."""
    used = result["sentence_embeddings"]
    if used["used"]:
        typer.echo(f"sentence embeddings: {used['texts']} texts embedded in {used['seconds']} s")
    elif sentence_asked:
        typer.echo(f"sentence embeddings requested but unavailable: {used['reason']}; "
                   "reranking with the text features only", err=True)
    fixed = result["spelling"]
    if fixed["used"]:
        typer.echo(f"spelling: {fixed['corrected']} of {fixed['queries']} queries corrected "
                   "against the catalog")
    typer.echo(
        f"{result['queries']} test queries with a relevant product, {result['products_indexed']} "
        f"products indexed ({result['index']['index']} FAISS index, {result['index']['dense_dim']}-d dense)"
    )
    if synonyms_given:
        said = result["synonyms"]
        typer.echo(f"synonyms: {said['sets']} sets, {said['test_queries_rewritten']} test queries rewritten")
    if result["queries_without_words"]:
        typer.echo(f"{result['queries_without_words']} test queries have no searchable words "
                   "(the service refuses them): counted as misses")
    _table({"recall@10": result["recall@10"], "recall@100": result["recall@100"]}, "recall")
    _table(
        {"ndcg@10": result["ndcg@10"]}, f"reranking the judged products ({result['ndcg_queries']} queries)"
    )


@eval_app.command("home-depot")
def home_depot(
    train: Annotated[Path, typer.Option("--train", help="judged pairs the reranker learns from")],
    test: Annotated[Path, typer.Option("--test", help="judged pairs of the held-out queries")],
    json_out: Annotated[Path | None, typer.Option("--json", help="write the metrics here")] = None,
    progress: Annotated[bool, typer.Option(help="progress bars")] = True,
    sentence: Annotated[
        bool | None,
        typer.Option(
            "--sentence/--no-sentence",
            help="sentence-embedding features (all-MiniLM-L6-v2, the `semantic` extra; several minutes of "
                 "CPU); default: real_data.home_depot_sentence",
        ),
    ] = None,
    spelling: Annotated[
        bool | None,
        typer.Option("--spelling/--no-spelling",
                     help="correct query typos against the catalog first, as the service does; "
                          "default: recall.spelling_correction"),
    ] = None,
    synonyms: Annotated[
        Path | None,
        typer.Option("--synonyms", help="synonym sets (JSON, e.g. from shelfrank synonyms mine) each query "
                                        "also searches, after spelling, as the service does"),
    ] = None,
) -> None:
    """Recall@10/100 (lexical, dense, hybrid) and NDCG@10 (random, lexical, LambdaRank)."""
    from training.merchandising.synonym_mining import read_synonyms
    from training.real_data.home_depot import evaluate_home_depot, read_pairs

    output_file(json_out, "--json")
    try:
        train_pairs, test_pairs = read_pairs(train), read_pairs(test)
        synonym_sets = read_synonyms(synonyms) if synonyms is not None else None
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    if train_pairs.search_term.nunique() < 10:
        fail(f"{train}: {train_pairs.search_term.nunique()} queries; the reranker needs at least 10")
    rd = current_settings().real_data
    if sentence is not None:
        rd = rd.model_copy(update={"home_depot_sentence": sentence})
    recall = current_settings().recall
    if spelling is not None:
        recall = recall.model_copy(update={"spelling_correction": spelling})
    result = evaluate_home_depot(train_pairs, test_pairs, rd, progress=progress, recall_settings=recall,
                                 synonyms=synonym_sets, merchandising=current_settings().merchandising)
    _say_home_depot(result, rd.home_depot_sentence, synonym_sets is not None)
    _write(json_out, result)


@eval_app.command("taobao")
def taobao(
    train: Annotated[Path, typer.Option("--train", help="events the recall and ranker fit on")],
    test: Annotated[Path, typer.Option("--test", help="the next day's events")],
    json_out: Annotated[Path | None, typer.Option("--json", help="write the metrics here")] = None,
) -> None:
    """Recall@20/50 and NDCG@20 of next-day interactions (all items; items new to the user)."""
    from training.real_data.taobao import evaluate_taobao, read_events

    output_file(json_out, "--json")
    try:
        train_events, test_events = read_events(train), read_events(test)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    if train_events.timestamp.max() > test_events.timestamp.min():
        fail("the test events must come after every train event (split by time)")
    try:
        result = evaluate_taobao(train_events, test_events, current_settings())
    except ValueError as exc:
        fail(str(exc))
    typer.echo(f"{result['users']} users in both files")
    for part in ("all", "new"):
        _table(
            {m: result[part][m] for m in ("recall@20", "recall@50", "ndcg@20")},
            f"{part} items ({result[part]['users']} users)",
        )
    c = result["ceilings"]
    typer.echo(
        f"\nceilings: test items the user had seen {c['history']:.3f} "
        f"(at most 50 listed: {c['history@50']:.3f}); new items present in train {c['new_in_train']:.3f}; "
        f"candidate pool recall all {c['pool_all']:.3f}, new {c['pool_new']:.3f}; "
        f"shelfrank recall@50 = seen {c['shelfrank_seen']:.3f} + new {c['shelfrank_new']:.3f}"
    )
    _write(json_out, result)


@eval_app.command("next-item")
def next_item(
    train: Annotated[Path, typer.Option("--train", help="events the homepage recall and the live state "
                                        "start from")],
    test: Annotated[Path, typer.Option("--test", help="later events, replayed in time order")],
    fmt: Annotated[str, typer.Option("--format", help="events (CSV: session_id,user_id,item_id,timestamp"
                                     "[,category_id,event]) or taobao (UserBehavior)")] = "events",
    json_out: Annotated[Path | None, typer.Option("--json", help="write the metrics here")] = None,
) -> None:
    """Recall@20 and MRR@20 of each shopper's next item: popularity, frozen recall, live recall."""
    from training.real_data.next_item import next_item_eval

    output_file(json_out, "--json")
    if fmt not in ("events", "taobao"):
        fail(f"--format must be events or taobao, not {fmt!r}")
    try:
        result = next_item_eval(train, test, fmt, current_settings())
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    typer.echo(f"{result['events']} next-item events of {result['shoppers']} shoppers "
               f"({result['test_events']} test events, {result['seconds']} s)")
    _table({"recall@20": result["recall@20"], "mrr@20": result["mrr@20"]}, "next item")
    _write(json_out, result)
