"""The live tail's columnar poll (ranking/live/row_columns.py): the same rows, in the same order,
as the poll of one dict per card, and the same first showings, channel counts and Arrow tables as
those rows checked, counted and tabled one dict at a time (the references below: the code both
backends ran before they read columns)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from row_references import channel_rows, first_showings, log_tables

from ranking.live.channel_exposures import channel_counts
from ranking.live.log_rows import FirstShowings, column_tables
from ranking.live.log_tail import LogTail
from ranking.live.row_columns import RowColumns

T0 = 1_788_256_800_000


def test_rows_and_cards_come_back_as_the_dicts_they_were():
    cols = RowColumns()
    cols.add_rows([{"a": 1, "b": None}, {"a": 2}])
    cols.add_cards({"a": 3, "c": "x"}, [10, 11], [1, 2])
    cols.add_rows([])
    cols.add_cards({"a": 4}, [], [])
    cols.add_rows([{"b": 5, "product_id": 9}])
    expected = [{"a": 1, "b": None}, {"a": 2}, {"a": 3, "c": "x", "product_id": 10, "position": 1},
                {"a": 3, "c": "x", "product_id": 11, "position": 2}, {"b": 5, "product_id": 9}]
    assert cols.rows() == expected and len(cols) == 5
    assert cols.column("a") == [1, 2, 3, 3, None] and cols.column("zz") == [None] * 5
    assert cols.has("c") and cols.has("b") and not cols.has("zz")
    assert cols.take([1, 3]).rows() == [expected[1], expected[3]]
    assert not cols.take([0, 1]).has("c")


def _lines(rng: np.random.Generator, start: int, pages: int) -> dict[str, list[bytes]]:
    """A poll's worth of lines: exposures (some for the subsidy channel, some naming no channel
    field, a few bad), client impressions repeating some exposures' cards, ragged clicks."""
    exposures, impressions, clicks = [], [], []
    for i in range(start, start + pages):
        user = None if i % 6 == 0 else int(rng.integers(8))
        line = {"request_id": int(rng.integers(40)) if i % 9 == 0 else 10_000 + i, "timestamp": T0 + i * 999,
                "user_id": user, "query_id": 5 if i % 2 else None,
                "surface": "channel" if i % 4 == 0 else "search", "variant": "b",
                "cards": {"product_id": rng.choice(60, 20, replace=False).tolist(),
                          "position": list(range(1, 21))}}
        if i % 3:
            line["session_id"] = None if user is not None and i % 2 else ("" if i % 11 == 0 else f"s{i % 4}")
        if i % 4 == 0:
            line["channel"] = "subsidy" if i % 8 else "other"
        if i % 13 == 0:
            line["cards"]["position"] = line["cards"]["position"][:5]  # bad: lengths differ
        if i % 17 == 0:
            line["cards"] = "nope"
        if i % 19 == 0 and start == 0:  # strings: zipped as the dict path does (Arrow refuses the poll)
            line["cards"] = {"product_id": "abc", "position": "123"}
        exposures.append(json.dumps(line).encode())
        if i % 5 == 0:  # the client reports the cards it showed, some of them the exposure's
            for p in line["cards"]["product_id"][:3] if isinstance(line["cards"], dict) else []:
                impressions.append(json.dumps({"request_id": line["request_id"], "timestamp": T0 + i * 999,
                                               "user_id": user, "product_id": p, "position": 1}).encode())
        if i % 7 == 0:
            click = {"request_id": i, "timestamp": T0 + i * 999, "user_id": user, "session_id": f"s{i % 4}",
                     "product_id": int(rng.integers(60))}
            if i % 2:
                click["store_id"] = 3
            clicks.append(json.dumps(click).encode())
    exposures.append(b"[1, 2]")  # bad: not an object
    return {"exposures": exposures, "impressions": impressions, "clicks": clicks}


def _tables(make, rows):
    try:
        return make(rows)
    except Exception as exc:  # pyarrow's refusal of a column mixing strings and integers
        return type(exc)


@pytest.mark.parametrize("memory", [25, 200_000])
def test_a_columnar_poll_gives_what_the_poll_of_dicts_gave(tmp_path, memory):
    rng = np.random.default_rng(memory)
    by_dicts, by_columns = LogTail(tmp_path), LogTail(tmp_path)
    shown_d, shown_c = {}, FirstShowings(memory)
    compared = 0
    seen: list[dict] = []
    for start in (0, 60, 120, 400, -1):
        # the last poll: clients reporting, late, cards the service's exposures showed before
        late = {"impressions": [json.dumps({k: r.get(k) for k in ("request_id", "timestamp", "user_id",
                                                                "product_id", "position")}).encode()
                                for r in seen[-3000::97] if r.get("user_id") is not None]}
        for table, lines in (late if start < 0 else _lines(rng, start, 60)).items():
            (tmp_path / table).mkdir(exist_ok=True)
            with open(tmp_path / table / "w.jsonl", "ab") as f:
                f.write(b"".join(line + b"\n" for line in lines))
        rows, cols = by_dicts.poll(), by_columns.poll_columns()
        assert rows.keys() == cols.keys()
        for table in rows:
            assert cols[table].rows() == rows[table], table
        assert channel_counts(cols["impressions"]) == channel_rows(rows["impressions"])
        rows["impressions"] = first_showings(shown_d, memory, rows["impressions"])
        cols["impressions"] = shown_c.columns(cols["impressions"])
        assert cols["impressions"].rows() == rows["impressions"]
        if start < 0:  # none new while remembered, all new once forgotten
            assert len(rows["impressions"]) == (len(late["impressions"]) if memory < 100 else 0)
        seen += rows["impressions"]
        assert shown_c.remembered() == list(shown_d)
        tables_d, tables_c = _tables(log_tables, rows), _tables(column_tables, cols)
        assert type(tables_d) is type(tables_c)  # (the string product ids: both refused alike)
        if isinstance(tables_d, dict):
            assert tables_d.keys() == tables_c.keys()
            compared += 1
            for table in tables_d:
                assert tables_c[table].equals(tables_d[table])
                assert tables_c[table].schema == tables_d[table].schema
    assert compared == 4
    assert by_columns.bad_lines == by_dicts.bad_lines > 0 and by_columns.lines_read == by_dicts.lines_read


def test_the_first_showings_of_columns_pause_every_so_many_rows():
    from ranking.live.log_rows import PAUSE_ROWS

    cols = RowColumns()
    for page in range(100):
        cols.add_cards({"request_id": page, "user_id": 1}, list(range(20)), list(range(1, 21)))
    pauses: list[int] = []
    kept = FirstShowings().columns(cols, lambda: pauses.append(1))
    assert kept is cols and len(pauses) == -(-2000 // PAUSE_ROWS) - 1


def test_pages_naming_the_same_fields_then_others_come_back_as_their_dicts(tmp_path):
    """The usual poll (every line the same fields: the columns extended as they are), then a line
    naming a field fewer, one more, and client rows naming other fields than the cards."""
    page = {"request_id": 1, "timestamp": T0, "user_id": 4, "session_id": None, "surface": "search",
            "query_id": 8, "cards": {"product_id": [5, 6], "position": [1, 2]}}
    lines = [{**page, "request_id": i} for i in range(40)]
    lines += [{k: v for k, v in page.items() if k != "query_id"},
              {**page, "channel": "subsidy", "request_id": 99}]
    (tmp_path / "exposures").mkdir()
    (tmp_path / "exposures" / "w.jsonl").write_bytes(b"".join(json.dumps(x).encode() + b"\n" for x in lines))
    (tmp_path / "impressions").mkdir()
    (tmp_path / "impressions" / "w.jsonl").write_text(
        json.dumps({"request_id": 1, "timestamp": T0, "user_id": 4, "product_id": 5, "seen_ms": 3}) + "\n"
        + json.dumps({"request_id": 2, "timestamp": T0, "user_id": 4, "position": 1, "foo": 2}) + "\n")
    rows, cols = LogTail(tmp_path).poll(), LogTail(tmp_path).poll_columns()
    assert cols["impressions"].rows() == rows["impressions"] and len(rows["impressions"]) == 2 + 42 * 2
    assert column_tables(cols)["impressions"].equals(log_tables(rows)["impressions"])
    uniform = LogTail(tmp_path, tables=("exposures", "impressions"))  # the cards first: no ragged rows yet
    (tmp_path / "impressions" / "w.jsonl").unlink()
    got = uniform.poll_columns()["impressions"]
    assert got.rows() == LogTail(tmp_path, tables=("exposures", "impressions")).poll()["impressions"]
