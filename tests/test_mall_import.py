"""``shelfrank import``: a mall exported as CSV files with its own column names, value names and
time formats comes back through a mapping as a dataset that validates and trains; bad mappings
and bad cells are refused with the file, line and column named, and nothing is written."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.compute as pc
import pytest
from typer.testing import CliRunner

from ranking.contracts import TABLES, read_table
from shelfrank.cli import app
from training.data.column_conversion import convert_column
from training.data.import_mapping import MappingError, load_mapping
from training.data.mall_import import REQUIRED_TABLES, SourceDataError, import_mall

runner = CliRunner()
SURFACE_NAMES = {"homepage": "home", "search": "srch", "channel": "chan"}
LOCAL_FORMAT = "%Y/%m/%d %H:%M:%S.%f"


def _export_csv_mall(mall: Path, out: Path) -> Path:
    """Write ``mall``'s tables as a shop's export would hold them (CSV with renamed columns, local
    times, its own surface names, yes/no booleans; the impressions as Parquet with epoch-ms times
    and the query text instead of ids) and a mapping."""
    out.mkdir()
    mapping: dict = {"tables": {}}
    texts = read_table(mall, "queries").to_pandas().set_index("query_id").text
    for name in (*REQUIRED_TABLES, "carts", "reviews"):
        frame = read_table(mall, name).to_pandas()
        entry: dict = {"file": f"{name}_export.csv", "columns": {}, "timestamps": {}}
        for col in TABLES[name].columns:
            src = f"src_{col.name}"
            entry["columns"][col.name] = src
            values = frame.pop(col.name)
            if name == "impressions" and col.name == "timestamp":  # a Parquet export in epoch ms
                frame[src] = (values - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)
                entry["timestamps"][col.name] = "epoch_ms"
            elif col.type.equals(TABLES["impressions"].column("timestamp").type):
                local = values.dt.tz_convert("Asia/Shanghai").dt.tz_localize(None)
                frame[src] = local.dt.strftime(LOCAL_FORMAT)
                entry["timestamps"][col.name] = LOCAL_FORMAT
            elif str(col.type) == "bool":
                frame[src] = values.map({True: "yes", False: "no"})
            elif col.name == "surface":
                frame[src] = values.map(SURFACE_NAMES)
                entry["values"] = {"surface": {v: k for k, v in SURFACE_NAMES.items()}}
            elif name == "impressions" and col.name == "query_id":
                frame["keyword"] = values.map(texts)  # the typed text, not an id
                del entry["columns"]["query_id"]
                entry["query_text"] = "keyword"
            else:
                frame[src] = values
        if name == "impressions":  # a mall that never randomised: the importer fills these
            for col in ("variant", "propensity"):
                frame.pop(f"src_{col}")
                del entry["columns"][col]
            entry["defaults"] = {"variant": "logged", "propensity": 1.0}
        if name == "impressions":
            entry["file"] = "impressions_export.parquet"
            frame.to_parquet(out / entry["file"], index=False)
        else:
            frame.to_csv(out / entry["file"], index=False)
        mapping["tables"][name] = entry
    path = out / "mapping.json"
    path.write_text(json.dumps(mapping, indent=1), encoding="utf-8")
    return path


def test_a_csv_mall_round_trips_through_import_validate_and_train(small_mall: Path, tmp_path: Path) -> None:
    mapping = _export_csv_mall(small_mall, tmp_path / "export")
    imported = runner.invoke(app, ["import", str(mapping), "--out", str(tmp_path / "mall")])
    assert imported.exit_code == 0, imported.output
    assert "returns:" in imported.output and "empty: no returns" in imported.output
    again = runner.invoke(app, ["import", str(mapping), "--out", str(tmp_path / "mall")])
    assert again.exit_code == 2 and "already holds a dataset" in again.output
    validated = runner.invoke(app, ["validate", str(tmp_path / "mall"), "--no-progress"])
    assert validated.exit_code == 0, validated.output
    for name in ("products", "clicks", "orders"):  # the same rows as the simulated mall's
        assert read_table(tmp_path / "mall", name).equals(read_table(small_mall, name)), name
    imp, original = read_table(tmp_path / "mall", "impressions"), read_table(small_mall, "impressions")
    assert imp.column("query_id").equals(original.column("query_id"))  # hashed from the text
    assert imp.column("timestamp").equals(original.column("timestamp"))
    assert pc.all(pc.equal(imp.column("propensity"), 1.0)).as_py()
    assert read_table(tmp_path / "mall", "returns").num_rows == 0
    fast = ["--set", "training.funnel.num_boost_round=10", "--set", "training.compile_scorer=false",
            "--set", "training.live_features=false"]
    trained = runner.invoke(app, [*fast, "train", "--data", str(tmp_path / "mall"),
                                  "--out", str(tmp_path / "models"), "--no-position-debias", "--no-progress"])
    assert trained.exit_code == 0, trained.output
    assert (tmp_path / "models" / "latest" / "manifest.json").exists()


def _tiny_mapping(folder: Path, toml: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / "mapping.toml"
    path.write_text(toml, encoding="utf-8")
    return path


@pytest.mark.parametrize(("toml", "named"), [
    ("[tables.goods]\nfile = 'x.csv'\n", "tables.goods is no contract table"),
    ("[tables.products]\nfile = 'x.csv'\ncolumns = { sku = 'id' }\n",
     "tables.products.columns.sku is no column"),
    ("[tables.products]\nfile = 'x.xlsx'\n", "tables.products.format: 'xlsx'"),
    ("[tables.products]\ncolumns = {}\n", "tables.products.file is missing"),
    ("[tables.products]\nfile = 'x.csv'\ntimestamps = { listed_at = 'yyyy-mm-dd' }\n",
     "tables.products.timestamps.listed_at"),
    ("[tables.products]\nfile = 'x.csv'\ntimezone = 'Mars/Olympus'\n", "tables.products.timezone"),
    ("[tables.products]\nfile = 'x.csv'\nsheet = 2\n", "tables.products.sheet is not a mapping key"),
    ("[tables.products\nfile = 'x.csv'\n", "not valid TOML"),
    ("title = 'no tables'\n", "needs a 'tables' section"),
])
def test_a_bad_mapping_is_refused_naming_the_file_and_key(tmp_path: Path, toml: str, named: str) -> None:
    path = _tiny_mapping(tmp_path, toml)
    with pytest.raises(MappingError, match=r"mapping\.toml") as caught:
        load_mapping(path)
    assert named in str(caught.value)


def test_a_mapping_without_a_table_training_needs_writes_nothing(tmp_path: Path) -> None:
    path = _tiny_mapping(tmp_path, "[tables.products]\nfile = 'p.csv'\n")
    result = runner.invoke(app, ["import", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "no tables.categories: training needs categories, brands, stores, users" in result.output
    assert not (tmp_path / "out").exists()


def test_bad_cells_are_named_by_file_line_and_column(small_mall: Path, tmp_path: Path) -> None:
    mapping = _export_csv_mall(small_mall, tmp_path / "export")
    products = pd.read_csv(tmp_path / "export" / "products_export.csv", dtype=str, keep_default_na=False)
    products.loc[3, "src_price"] = "twelve yuan"
    products.loc[7, "src_banned"] = "maybe"
    products.loc[9, "src_stock"] = "2.5"
    products.to_csv(tmp_path / "export" / "products_export.csv", index=False)
    clicks = pd.read_csv(tmp_path / "export" / "clicks_export.csv", dtype=str, keep_default_na=False)
    clicks.loc[0, "src_timestamp"] = "yesterday"
    clicks.to_csv(tmp_path / "export" / "clicks_export.csv", index=False)
    with pytest.raises(SourceDataError) as caught:
        import_mall(mapping, tmp_path / "out")
    message = str(caught.value)
    # row 3 of the frame is line 5 of the file (the header is line 1)
    assert ("products_export.csv, column 'src_price' (contract products.price): line 5: 'twelve yuan' is not "
            "a number") in message
    assert "column 'src_banned' (contract products.banned): line 9: 'maybe' is not a boolean" in message
    assert "column 'src_stock' (contract products.stock): line 11: '2.5' is not a whole number" in message
    assert ("clicks_export.csv, column 'src_timestamp' (contract clicks.timestamp): line 2: 'yesterday' "
            "is not a time like") in message
    assert not (tmp_path / "out").exists()


def test_a_value_outside_the_contract_names_the_value_map_to_fix_it() -> None:
    column = TABLES["impressions"].column("surface")
    _, bad = convert_column(pd.Series(["homepage", "", "feed"]), column)
    assert [(b.row, b.value, b.reason) for b in bad] == [
        (1, "", "is not one of 'search', 'homepage', 'channel' (map it in values.surface)"),
        (2, "feed", "is not one of 'search', 'homepage', 'channel' (map it in values.surface)")]
    _, bad = convert_column(pd.Series(["5", None]), TABLES["impressions"].column("position"))
    assert [(b.row, b.reason) for b in bad] == [(1, "is empty but may not be")]
    stock = TABLES["products"].column("stock")
    _, bad = convert_column(pd.Series(["1", "-3", "99999999999"]), stock)
    assert [b.row for b in bad] == [1, 2]


def test_the_guides_worked_mapping_is_a_mapping_the_importer_accepts(tmp_path: Path) -> None:
    """docs/bring_your_own_mall.md's example names only real tables, columns and keys."""
    guide = (Path(__file__).parents[1] / "docs" / "bring_your_own_mall.md").read_text(encoding="utf-8")
    block = "# mapping.toml" + guide.split("```toml\n# mapping.toml")[1].split("```")[0]
    mapping = load_mapping(_tiny_mapping(tmp_path, block))
    assert set(REQUIRED_TABLES) <= set(mapping.tables)
    impressions = mapping.tables["impressions"]
    assert impressions.query_text == "keyword" and impressions.defaults["propensity"] == 1.0
    assert mapping.tables["products"].values["subsidy"] == {"是": True, "否": False}
