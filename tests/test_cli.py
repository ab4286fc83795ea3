"""The ``shelfrank`` command line: help everywhere, settings overrides, validate exit codes."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from shelfrank.cli import app

runner = CliRunner()


def _all_command_paths() -> list[list[str]]:
    root = get_command(app)
    paths: list[list[str]] = []

    def walk(cmd, prefix: list[str]) -> None:
        paths.append(prefix)
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, [*prefix, name])

    walk(root, [])
    return paths


@pytest.mark.parametrize("path", _all_command_paths(), ids=lambda p: " ".join(p) or "root")
def test_every_command_has_help(path: list[str]) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_settings_reflect_set_overrides_and_refuse_unknown_keys() -> None:
    ok = runner.invoke(app, ["--set", "scores.window_days=45", "settings"])
    assert ok.exit_code == 0 and '"window_days": 45' in ok.output
    bad = runner.invoke(app, ["--set", "scores.window_dayz=45", "settings"])
    assert bad.exit_code != 0
    assert "window_dayz" in bad.output


def test_settings_read_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHELFRANK_SIMULATOR__SEED", "99")
    result = runner.invoke(app, ["settings"])
    assert '"seed": 99' in result.output


def test_bad_environment_settings_are_named_as_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHELFRANK_RECALL__RRFK", "10")  # a typo pydantic-settings would ignore
    typo = runner.invoke(app, ["settings"])
    assert typo.exit_code == 2 and "SHELFRANK_RECALL__RRFK" in typo.output and "environment" in typo.output
    monkeypatch.delenv("SHELFRANK_RECALL__RRFK")
    monkeypatch.setenv("SHELFRANK_RECALL__RRF_K", "abc")
    bad = runner.invoke(app, ["settings"])
    assert bad.exit_code == 2 and "recall.rrf_k" in bad.output and "environment" in bad.output
    monkeypatch.setenv("SHELFRANK_RECALL__RRF_K", "30")
    monkeypatch.setenv("SHELFRANK_RECALL__HOMEPAGE_QUOTAS", '{"trending": 5}')  # dict keys are free
    monkeypatch.setenv("SHELFRANK_TEST_SOMETHING_ELSE", "1")  # not SECTION__FIELD: not a setting
    ok = runner.invoke(app, ["settings"])
    assert ok.exit_code == 0 and '"rrf_k": 30' in ok.output and '"trending": 5' in ok.output


def test_one_tree_setting_overridden_keeps_its_models_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    from ranking.settings import Settings, load_settings

    monkeypatch.setenv("SHELFRANK_TRAINING__FUNNEL__LEARNING_RATE", "0.2")
    funnel = Settings().training.funnel
    assert funnel.learning_rate == 0.2 and funnel.num_boost_round == 400  # not the generic default
    got = load_settings(["counterfactual.reward.num_boost_round=20"]).counterfactual.reward
    assert got.num_boost_round == 20 and got.learning_rate == 0.08
    assert load_settings([]).training.funnel.lightgbm_params() == {
        "num_leaves": 31, "learning_rate": 0.2, "min_data_in_leaf": 200}


def test_simulate_then_validate_passes(tmp_path: Path) -> None:
    out = tmp_path / "mall"
    sim = runner.invoke(app, ["simulate", "--scale", "small", "--seed", "3", "--out", str(out),
                              "--no-progress"])
    assert sim.exit_code == 0, sim.output
    assert "impressions" in sim.output
    result = runner.invoke(app, ["validate", str(out)])
    assert result.exit_code == 0, result.output
    assert "18 tables meet their contracts" in result.output


def test_validate_fails_clearly_on_a_corrupted_table(small_mall: Path, tmp_path: Path) -> None:
    copy = tmp_path / "mall"
    shutil.copytree(small_mall, copy)
    orders = copy / "orders.parquet"
    orders.write_bytes(orders.read_bytes()[: orders.stat().st_size // 2])
    result = runner.invoke(app, ["validate", str(copy)])
    assert result.exit_code == 1
    assert "orders.parquet: not a readable Parquet file" in result.output


def test_validate_names_a_dangling_reference(small_mall: Path, tmp_path: Path) -> None:
    import pyarrow.compute as pc

    from ranking.contracts import read_table, write_table

    copy = tmp_path / "mall"
    shutil.copytree(small_mall, copy)
    products = read_table(copy, "products")
    stores = read_table(copy, "stores")
    keep = pc.not_equal(stores.column("store_id"), products.column("store_id")[0])
    write_table(copy, "stores", stores.filter(keep))
    result = runner.invoke(app, ["validate", str(copy)])
    assert result.exit_code == 1
    assert "column 'store_id'" in result.output and "stores.store_id" in result.output


def test_simulate_rejects_an_unknown_scale(tmp_path: Path) -> None:
    result = runner.invoke(app, ["simulate", "--scale", "huge", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "small, default or large" in result.output


# ---- a wrong input gives one error line and exit 2, never a traceback or a quiet success ----
def _refused(result, *needles: str) -> None:
    """Exit 2 with an error naming ``needles``, and no Python exception behind it."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    for needle in needles:
        assert needle in result.output, result.output


def test_bad_set_overrides_are_one_line_and_conflicts_do_not_crash() -> None:
    bad = runner.invoke(app, ["--set", "recall.rrf_k=abc", "settings"])
    _refused(bad, "recall.rrf_k", "'abc'")
    assert "errors.pydantic.dev" not in bad.output
    _refused(runner.invoke(app, ["--set", "nosuch.field=1", "settings"]), "nosuch", "no such setting")
    clash = runner.invoke(app, ["--set", "scores.window_days=1", "--set", "scores.window_days.x=1",
                                "settings"])
    _refused(clash, "scores.window_days")


@pytest.mark.parametrize("args", [
    ["simulate", "--scale", "small", "--out", "{tmp}/mall", "--seed", "-1"],
    ["--set", "simulator.seed=-1", "settings"],
    ["eval", "split-home-depot", "{tmp}/pairs.csv", "--out", "{tmp}/split", "--seed", "-1"],
    ["experiment", "page-value", "--data", "{tmp}", "--treatment", "{tmp}", "--seed", "-1"],
], ids=["simulate", "set", "split-home-depot", "page-value"])
def test_negative_seeds_are_refused(args: list[str], tmp_path: Path) -> None:
    # numpy refuses them deep inside the run, with a traceback
    _refused(runner.invoke(app, [a.format(tmp=tmp_path) for a in args]), "seed")
    assert not list(tmp_path.iterdir())


def test_serve_refuses_a_bad_port_or_log_level_before_starting() -> None:
    _refused(runner.invoke(app, ["serve", "--port", "70000"]), "--port")
    _refused(runner.invoke(app, ["serve", "--log-level", "loud"]), "--log-level", "loud")


def test_output_paths_are_checked_before_the_work(small_mall: Path, tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    _refused(runner.invoke(app, ["simulate", "--scale", "small", "--out", str(a_file), "--no-progress"]),
             f"--out {a_file}", "is a file")
    _refused(runner.invoke(app, ["scores", "--data", str(small_mall), "--out", str(tmp_path)]),
             f"--out {tmp_path}", "is a folder")
    _refused(runner.invoke(app, ["train", "--data", str(small_mall), "--out", str(a_file / "models"),
                                 "--no-progress"]), f"{a_file} is a file")
    _refused(runner.invoke(app, ["eval", "split-taobao", "unused", "--out", str(a_file)]), "--out")
    # without --out, train writes to paths.models_dir: checked the same way
    _refused(runner.invoke(app, ["--set", f"paths.models_dir={a_file / 'models'}", "train", "--data",
                                 str(small_mall), "--no-progress"]), f"{a_file} is a file")
    assert not list(tmp_path.glob("*.tmp"))


def test_train_names_a_folder_that_is_not_a_dataset(tmp_path: Path) -> None:
    _refused(runner.invoke(app, ["train", "--data", str(tmp_path), "--out", str(tmp_path / "m")]),
             "categories.parquet")
    assert not (tmp_path / "m").exists()


def test_merge_events_refuses_a_missing_or_foreign_folder(small_mall: Path, tmp_path: Path) -> None:
    out = tmp_path / "merged"
    missing = runner.invoke(app, ["merge-events", "--data", str(small_mall), "--events",
                                  str(tmp_path / "nope"), "--out", str(out)])
    _refused(missing, "no event log folder")
    # a dataset folder is no event log: it used to merge nothing and say "wrote"
    _refused(runner.invoke(app, ["merge-events", "--data", str(small_mall), "--events", str(small_mall),
                                 "--out", str(out)]), "no event log in this folder")
    (tmp_path / "events" / "clicks").mkdir(parents=True)
    (tmp_path / "events" / "clicks" / "w.jsonl").write_text("")
    _refused(runner.invoke(app, ["merge-events", "--data", str(tmp_path / "events"), "--events",
                                 str(tmp_path / "events"), "--out", str(out)]), "not a dataset folder")
    assert not out.exists()


def test_scores_olist_and_scores_name_what_is_wrong(small_mall: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    _refused(runner.invoke(app, ["scores", "olist", "--csv", str(empty)]), str(empty))
    _refused(runner.invoke(app, ["scores", "olist", "--csv", str(tmp_path)]), "not a file")
    _refused(runner.invoke(app, ["scores", "--data", str(small_mall)]), "needs --out")


def test_split_taobao_refuses_one_day_and_names_an_unreadable_file(tmp_path: Path) -> None:
    one_day = tmp_path / "one-day.csv"
    one_day.write_text("1,10,100,pv,1512149435\n2,11,100,buy,1512149500\n")
    _refused(runner.invoke(app, ["eval", "split-taobao", str(one_day), "--out", str(tmp_path / "s")]),
             "one local day")
    assert not (tmp_path / "s" / "train.csv.gz").exists()
    binary = tmp_path / "binary.csv"
    binary.write_bytes(bytes(range(128, 256)) * 4)
    _refused(runner.invoke(app, ["eval", "split-home-depot", str(binary), "--out", str(tmp_path / "h")]),
             str(binary), "not a readable CSV")


def _one_exposure_log(root: Path, experiment: str) -> None:
    from ranking.event_log import EventLog

    log = EventLog(root)
    log.append({"exposures": [{
        "request_id": 1, "timestamp": 1_767_225_600_000, "user_id": 1, "surface": "homepage",
        "query_id": None, "product_id": 1, "position": 1, "experiment": experiment, "variant": "control",
        "team": None, "propensity": 1.0, "bundle_version": "v", "latency_ms": 5.0}]})
    log.close()


def test_experiment_analyze_refuses_a_config_the_log_never_ran(tmp_path: Path) -> None:
    import json

    _one_exposure_log(tmp_path / "events", "ab")
    config = tmp_path / "experiments.json"
    config.write_text(json.dumps({"experiments": [{
        "name": "other", "layer": "a", "salt": "s", "traffic": 1.0, "mode": "ab",
        "variants": [{"name": "control", "share": 0.5}, {"name": "treatment", "share": 0.5}]}]}))
    args = ["experiment", "analyze", "--events", str(tmp_path / "events"), "--out", str(tmp_path / "r")]
    _refused(runner.invoke(app, [*args, "--config", str(config)]), "other", "it has: ab")
    config.write_text("{}")
    _refused(runner.invoke(app, [*args, "--config", str(config)]), "no experiments")
    assert not (tmp_path / "r").exists()


def test_evaluate_and_counterfactual_refuse_wrong_inputs(small_models: Path, small_mall: Path,
                                                         tmp_path: Path) -> None:
    bundle = str(small_models / "latest")
    _refused(runner.invoke(app, ["evaluate", bundle, "--data", str(tmp_path), "--no-progress"]),
             "categories.parquet")
    # --counterfactual-control alone used to be ignored after a full evaluation
    _refused(runner.invoke(app, ["evaluate", bundle, "--data", str(small_mall), "--counterfactual-control",
                                 bundle, "--no-progress"]), "--counterfactual")
    _refused(runner.invoke(app, ["evaluate", bundle, "--data", str(small_mall), "--json", str(tmp_path),
                                 "--no-progress"]), "--json", "is a folder")
    cf = ["experiment", "counterfactual", "--data", str(small_mall), "--treatment", bundle,
          "--control", bundle]
    _refused(runner.invoke(app, [*cf, "--online", str(tmp_path / "nope.json")]), "--online")
    (tmp_path / "other.json").write_text("{}")
    _refused(runner.invoke(app, [*cf, "--online", str(tmp_path / "other.json")]), "not a closed-loop result")


# ---- degenerate but valid data: a one-line error naming the table or setting ----
def _mall_copy_with(small_mall: Path, copy: Path, **tables) -> Path:
    """A copy of the small mall with the given tables replaced (pyarrow tables)."""
    from ranking.contracts import write_table

    shutil.copytree(small_mall, copy)
    for name, table in tables.items():
        write_table(copy, name, table)
    return copy


def _days_after(start, days: int):
    """The UTC timestamp scalar ``days`` after ``start`` (to cut a log short)."""
    import datetime as dt

    import pyarrow as pa

    return pa.scalar(start + dt.timedelta(days=days), pa.timestamp("ms", tz="UTC"))


def test_train_names_a_log_too_short_for_its_split_before_featurising(small_mall: Path,
                                                                       tmp_path: Path) -> None:
    """15 days or one day of logs: a traceback from split_days / np.concatenate before."""
    import pyarrow.compute as pc

    from ranking.contracts import read_table

    imp = read_table(small_mall, "impressions")
    start = pc.min(imp.column("timestamp")).as_py()
    for days in (15, 1):
        end = _days_after(start, days)
        short = _mall_copy_with(small_mall, tmp_path / f"mall{days}",
                                impressions=imp.filter(pc.less(imp.column("timestamp"), end)))
        result = runner.invoke(app, ["train", "--data", str(short), "--out", str(tmp_path / "m"),
                                     "--no-progress"])
        _refused(result, "impressions", "logged day(s) are too few", "training.*")
        # `days` 24-hour spans from the first impression cover that many mall days, or one more
        # when the first impression is not at midnight (multi-page sessions start at any time)
        assert int(re.search(r"(\d+) logged day", result.output).group(1)) in (days, days + 1)
        assert not (tmp_path / "m").exists()


def test_train_without_orders_and_evaluate_off_the_test_days_are_one_line(
        small_mall: Path, small_models: Path, tmp_path: Path) -> None:
    import pyarrow.compute as pc

    from ranking.contracts import read_table

    orders = read_table(small_mall, "orders")
    no_orders = _mall_copy_with(small_mall, tmp_path / "no_orders", orders=orders.slice(0, 0))
    _refused(runner.invoke(app, ["--set", "training.request_sample=0.2", "train", "--data", str(no_orders),
                                 "--out", str(tmp_path / "m"), "--no-progress"]),
             "orders", "training.model=lambdarank")
    imp = read_table(small_mall, "impressions")
    end = _days_after(pc.min(imp.column("timestamp")).as_py(), 15)
    early = _mall_copy_with(small_mall, tmp_path / "early",
                            impressions=imp.filter(pc.less(imp.column("timestamp"), end)))
    _refused(runner.invoke(app, ["evaluate", str(small_models / "latest"), "--data", str(early),
                                 "--report", str(tmp_path / "r"), "--no-progress"]),
             "impressions", "test days")


def test_evaluate_names_a_truth_written_for_another_catalog(small_mall: Path, small_models: Path,
                                                            tmp_path: Path) -> None:
    """A leaf category added after simulating (valid data, no products in it) used to crash the
    oracle in a numpy matmul; without truth/ the same mall evaluates with no oracle."""
    import pyarrow as pa

    from ranking.contracts import read_table

    cats = read_table(small_mall, "categories")
    leaf = cats.filter(pa.compute.equal(cats.column("level"), 1)).slice(0, 1).to_pylist()[0]
    leaf |= {"category_id": max(cats.column("category_id").to_pylist()) + 1, "name_en": "empty leaf"}
    mall = _mall_copy_with(small_mall, tmp_path / "mall",
                           categories=pa.concat_tables([cats, pa.Table.from_pylist([leaf], cats.schema)]))
    args = ["--set", "training.live_features=false",  # the truth check, not the replay
            "evaluate", str(small_models / "latest"), "--data", str(mall), "--report", str(tmp_path / "r"),
            "--no-progress"]
    _refused(runner.invoke(app, args), "truth", "35 leaf categories, categories.parquet has 36",
             "move truth/ away")
    shutil.rmtree(mall / "truth")
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "oracle" not in result.output


def test_scores_says_when_the_window_is_empty_and_refuses_a_log_with_no_last_event(
        small_mall: Path, tmp_path: Path) -> None:
    """Scores as of a moment before the logs were all ~50 with nothing saying why; a mall with
    no impressions and no orders died on max() of an empty sequence."""
    from ranking.contracts import read_table

    out = str(tmp_path / "s.parquet")
    early = runner.invoke(app, ["scores", "--data", str(small_mall), "--as-of", "2026-01-01", "--out", out])
    assert early.exit_code == 0, early.output
    assert "0 impressions, 0 clicks, 0 orders, 0 reviews" in early.output
    assert "warning: no impressions, clicks, orders or reviews in the window" in early.output
    normal = runner.invoke(app, ["scores", "--data", str(small_mall), "--out", out])
    assert normal.exit_code == 0 and "warning" not in normal.output, normal.output
    empty = {t: read_table(small_mall, t).slice(0, 0) for t in ("impressions", "orders")}
    quiet = _mall_copy_with(small_mall, tmp_path / "quiet", **empty)
    _refused(runner.invoke(app, ["scores", "--data", str(quiet), "--out", out]),
             "impressions and orders are both empty", "--as-of")


def test_a_mall_without_search_traffic_trains_and_says_what_the_model_never_saw(small_mall: Path,
                                                                               tmp_path: Path) -> None:
    """Homepage only: the bundle still ranks search, so train warns, and evaluate says why there
    is no search table (both used to pass over it in silence)."""
    import pyarrow.compute as pc

    from ranking.contracts import read_table

    imp = read_table(small_mall, "impressions")
    mall = _mall_copy_with(small_mall, tmp_path / "mall",
                           impressions=imp.filter(pc.equal(imp.column("surface"), "homepage")))
    fast = ["--set", "training.funnel.num_boost_round=10", "--set", "training.compile_scorer=false",
            "--set", "training.live_features=false"]
    trained = runner.invoke(app, [*fast, "train", "--data", str(mall), "--out", str(tmp_path / "m"),
                                  "--no-progress"])
    assert trained.exit_code == 0, trained.output
    assert "warning: the training days logged no search or channel cards" in trained.output
    evaluated = runner.invoke(app, [*fast, "evaluate", str(tmp_path / "m" / "latest"), "--data", str(mall),
                                    "--report", str(tmp_path / "r"), "--no-progress"])
    assert evaluated.exit_code == 0, evaluated.output
    assert "[homepage]" in evaluated.output and "[search]" not in evaluated.output
    assert "no search or channel requests on the test days" in evaluated.output


def test_merge_events_keeps_the_first_copy_of_a_retried_impression(small_mall: Path, tmp_path: Path) -> None:
    """A frontend that posts a page's impressions again (a retry, a later timestamp) must not
    make the merged dataset break the impressions' unique (request_id, position) contract."""
    import json

    log = tmp_path / "events" / "impressions"
    log.mkdir(parents=True)
    row = {"request_id": 9_000_000_001, "timestamp": 1788256800000, "user_id": 2, "surface": "homepage",
           "query_id": None, "product_id": 3, "position": 1, "variant": "default", "propensity": 1.0}
    retry = {**row, "timestamp": 1788256801500}
    (log / "w1.jsonl").write_text(json.dumps(row) + "\n" + json.dumps(retry) + "\n")
    merged = runner.invoke(app, ["merge-events", "--data", str(small_mall),
                                 "--events", str(tmp_path / "events"), "--out", str(tmp_path / "merged")])
    assert merged.exit_code == 0, merged.output
    assert "impressions: +1 rows (1 already there or repeated, dropped)" in merged.output
    assert runner.invoke(app, ["validate", str(tmp_path / "merged")]).exit_code == 0


def test_scores_without_options_shows_its_help_and_exits_2() -> None:
    bare = runner.invoke(app, ["scores"])
    assert bare.exit_code == 2 and "Usage" in bare.output and "error" not in bare.output
    half = runner.invoke(app, ["scores", "--data", "somewhere"])
    assert half.exit_code == 2 and "scores needs --out" in half.output
