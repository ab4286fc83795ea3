"""``shelfrank eval next-item`` on a small events file, and on the shared Taobao dev split."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from shelfrank.cli import app

runner = CliRunner()
HOUR = 3_600_000
T0 = 1_700_000_000_000


def _write(path, rows: list[tuple]) -> None:
    lines = ["session_id,user_id,item_id,timestamp,category_id,event"]
    lines += [",".join("" if v is None else str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")


def test_next_item_counts_only_new_next_items_and_follows_anonymous_sessions(tmp_path) -> None:
    """Twenty shoppers browse 1 -> 2 -> 3 (train). On the test day user 1 finds 50, carts it
    (the same item again: not counted), looks at 51 and orders 50: only the live state, which
    saw the day, can list 50 again. An anonymous session is a shopper of its own: its first
    event is not counted, its second (2 after 1) is co-visitation's."""
    train = []
    for u in range(1, 21):
        for i, item in enumerate((1, 2, 3, 10 + u)):
            train.append((f"s{u}", u, item, T0 + u * HOUR + i * 60_000, 5, "click"))
    test = [
        (None, 1, 50, T0 + 30 * HOUR, 6, "click"),  # counted: new to everyone (a miss)
        (None, 1, 50, T0 + 30 * HOUR + 1000, 6, "cart"),  # the previous item again: not counted
        (None, 1, 51, T0 + 30 * HOUR + 2000, 6, "click"),  # counted (a miss)
        (None, 1, 50, T0 + 30 * HOUR + 3000, 6, "order"),  # counted: live lists the day's own item
        ("anon", None, 1, T0 + 31 * HOUR, 5, "click"),  # the session's first event: not counted
        ("anon", None, 2, T0 + 31 * HOUR + 1000, 5, "click"),  # counted: 2 follows 1 for everyone
    ]
    _write(tmp_path / "train.csv", train)
    _write(tmp_path / "test.csv", test)
    out = tmp_path / "out.json"
    result = runner.invoke(app, ["eval", "next-item", "--train", str(tmp_path / "train.csv"), "--test",
                                 str(tmp_path / "test.csv"), "--json", str(out)])
    assert result.exit_code == 0, result.output
    got = json.loads(out.read_text())
    assert got["events"] == 4 and got["shoppers"] == 2
    assert set(got["recall@20"]) == set(got["mrr@20"]) == {"popularity", "frozen", "live"}
    assert got["recall@20"]["live"] == 0.5 and got["recall@20"]["frozen"] <= 0.25
    assert got["mrr@20"]["live"] > got["mrr@20"]["frozen"]
    assert "next item" in result.output


def test_next_item_refuses_a_file_without_the_header(tmp_path) -> None:
    (tmp_path / "bad.csv").write_text("user_id,item_id\n1,2\n")
    result = runner.invoke(app, ["eval", "next-item", "--train", str(tmp_path / "bad.csv"), "--test",
                                 str(tmp_path / "bad.csv")])
    assert result.exit_code == 2 and "missing column(s) ['session_id', 'timestamp']" in result.output


@pytest.mark.shared_data
def test_next_item_on_the_taobao_dev_split(shared_datasets, tmp_path) -> None:
    source = shared_datasets / "taobao_userbehavior" / "UserBehavior_until_2017-12-02.csv.gz"
    assert runner.invoke(app, ["eval", "split-taobao", str(source), "--out", str(tmp_path)]).exit_code == 0
    out = tmp_path / "next.json"
    result = runner.invoke(app, ["eval", "next-item", "--format", "taobao", "--train",
                                 str(tmp_path / "train.csv.gz"), "--test", str(tmp_path / "test.csv.gz"),
                                 "--json", str(out)])
    assert result.exit_code == 0, result.output
    got = json.loads(out.read_text())
    assert got["events"] > 10_000 and got["shoppers"] > 700
    live, frozen = got["recall@20"]["live"], got["recall@20"]["frozen"]
    assert live >= 2.5 * frozen and got["mrr@20"]["live"] >= 0.09  # the goals met
    assert live >= 0.19  # measured 0.202; the 0.25 is not reached: docs/real_data.md says why
