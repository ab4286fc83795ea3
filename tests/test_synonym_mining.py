"""Mining synonym candidates from a query log (training/merchandising/synonym_mining.py,
``shelfrank synonyms mine``): a planted pair is found, noise, complements and typos are not."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from ranking.merchandising.synonym import Synonym
from ranking.settings import MerchandisingSettings
from shelfrank.cli import app
from training.merchandising.synonym_mining import mine_pairs, mine_synonyms, read_query_log, read_synonyms

TITLES = {1: "Frigidaire refrigerator white", 2: "Samsung refrigerator french door",
          3: "LG refrigerator stainless", 4: "Whirlpool refrigerator compact",
          5: "Makita drill 18v", 6: "Bosch drill kit", 7: "Dewalt drill brushless"}


def _log() -> pd.DataFrame:
    rows = []

    def led(query: str, products: list[int], relevance: float = 3.0) -> None:
        rows.extend({"query": query, "product_id": p, "title": TITLES[p], "relevance": relevance}
                    for p in products)

    led("fridge", [1, 2, 3])  # the planted pair: shoppers say fridge, titles say refrigerator
    led("refrigerator", [1, 2, 3, 4])
    led("cheap fridge", [1])  # noise: "cheap" is in no title and leads to one product only
    led("ice box", [1, 2, 3], relevance=1.0)  # judged irrelevant: leads nowhere
    led("cordless drill", [5, 6, 7])  # a complement: typed together with drill, not instead of it
    led("drill", [5, 6, 7])
    led("refrigirator", [2, 3, 4])  # a typo: spelling correction's job
    return pd.DataFrame(rows)


def test_the_planted_pair_is_found_and_noise_complements_and_typos_are_not() -> None:
    settings = MerchandisingSettings()
    pairs = {(p.word, p.target): p for p in mine_pairs(_log(), settings)}
    assert set(pairs) == {("fridge", "refrigerator")}
    assert pairs["fridge", "refrigerator"].support == 3 and pairs["fridge", "refrigerator"].confidence == 1.0
    found = mine_synonyms(_log(), settings, source="test log")
    assert [(s.terms, s.one_way) for s in found] == [(["fridge", "refrigerator"], True)]
    assert "3 products" in found[0].reason


def test_the_thresholds_are_the_settings() -> None:
    loose = MerchandisingSettings(mine_min_support=1, mine_max_spelling_similarity=1.0)
    pairs = {(p.word, p.target) for p in mine_pairs(_log(), loose)}
    assert {("cheap", "refrigerator"), ("refrigirator", "refrigerator")} <= pairs
    assert ("cordless", "drill") not in pairs  # typed together: never a synonym
    assert not mine_pairs(_log(), MerchandisingSettings(mine_min_support=4))
    clicks = _log().drop(columns="relevance").assign(clicks=1)  # a click log: every row led
    mined = {(p.word, p.target) for p in mine_pairs(clicks, MerchandisingSettings())}
    assert ("ice", "refrigerator") in mined


def test_spelling_correction_reads_the_queries_as_searched() -> None:
    typo = {"refrigirator": "refrigerator"}
    pairs = mine_pairs(_log(), MerchandisingSettings(mine_max_spelling_similarity=1.0),
                       correct=lambda q: typo.get(q, q))
    assert {(p.word, p.target) for p in pairs} == {("fridge", "refrigerator")}


def test_the_command_writes_sets_the_synonym_import_reads(tmp_path) -> None:
    log = tmp_path / "log.csv"
    _log().rename(columns={"query": "search_term", "product_id": "product_uid", "title": "product_title"}) \
        .to_csv(log, index=False)
    out = tmp_path / "synonyms.json"
    result = CliRunner().invoke(app, ["synonyms", "mine", "--queries", str(log), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "1 synonym sets" in result.output and "fridge -> refrigerator" in result.output
    written = json.loads(out.read_text())
    assert [Synonym.model_validate(s).terms for s in written] == [["fridge", "refrigerator"]]
    assert [s.terms for s in read_synonyms(out)] == [["fridge", "refrigerator"]]


def test_a_log_without_titles_is_refused_with_the_columns_it_needs(tmp_path) -> None:
    log = tmp_path / "log.csv"
    _log().drop(columns="title").to_csv(log, index=False)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['title'\]"):
        read_query_log(log)
    titles = tmp_path / "titles.csv"
    pd.DataFrame({"product_id": list(TITLES), "title": list(TITLES.values())}).to_csv(titles, index=False)
    assert read_query_log(log, titles).title.notna().all()
    result = CliRunner().invoke(app, ["synonyms", "mine", "--queries", str(log), "--out",
                                      str(tmp_path / "s.json")])
    assert result.exit_code == 2 and "missing column(s) ['title']" in result.output


def test_a_bad_synonym_file_names_the_set(tmp_path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"terms": ["a", "b"], "reason": "ok"}, {"terms": ["only"], "reason": "x"}]))
    with pytest.raises(ValueError, match="synonym set 1"):
        read_synonyms(bad)


def test_mining_the_home_depot_train_queries_finds_a_known_pair(shared_datasets, tmp_path) -> None:
    runner = CliRunner()
    source = shared_datasets / "home_depot" / "search_relevance_dev.csv.gz"
    split = runner.invoke(app, ["eval", "split-home-depot", str(source), "--out", str(tmp_path)])
    assert split.exit_code == 0, split.output
    out = tmp_path / "synonyms.json"
    result = runner.invoke(app, ["synonyms", "mine", "--queries", str(tmp_path / "train.csv.gz"),
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    mined = {s.terms[0]: s.terms[1:] for s in read_synonyms(out)}
    assert len(mined) >= 5
    assert "trimmer" in mined["weed"]  # "weed eater" queries lead to string trimmers


def test_the_home_depot_eval_searches_the_synonyms_it_is_given() -> None:
    """``eval home-depot --synonyms``: a test query whose relevant titles lack its word ("fridge")
    is found lexically only through the set, and the JSON says how many queries it rewrote."""
    import numpy as np

    from ranking.settings import load_settings
    from training.real_data.home_depot import evaluate_home_depot

    rng = np.random.default_rng(0)
    nouns = ["drill", "hammer", "refrigerator", "vacuum", "lamp", "hinge", "screen", "cable"]
    titles = [f"{a} {n} model {i}" for i, (a, n) in
              enumerate((a, n) for a in ("cordless", "steel", "kitchen", "brass", "white") for n in nouns)]
    rows = []
    for q in [f"{a} {n}" for a in ("cordless", "steel", "kitchen", "brass") for n in nouns] + ["fridge"]:
        for p in rng.choice(len(titles), 5, replace=False):
            rows.append((int(p) + 1, titles[p], q, 3.0 if titles[p].startswith(q) else 1.0))
    fridges = [i for i, t in enumerate(titles) if "refrigerator" in t]
    rows += [(i + 1, titles[i], "fridge", 3.0) for i in fridges]
    pairs = pd.DataFrame(rows, columns=["product_uid", "product_title", "search_term", "relevance"])
    test = pairs.search_term.isin(["fridge", "steel lamp"])
    settings = load_settings(["real_data.home_depot_sentence=false", "real_data.home_depot_ltr_rounds=10",
                              "real_data.home_depot_dense_dim=8", "recall.spelling_correction=false"])
    train, held_out = pairs[~test].reset_index(drop=True), pairs[test].reset_index(drop=True)
    plain = evaluate_home_depot(train, held_out, settings.real_data, progress=False,
                                recall_settings=settings.recall)
    fridge = Synonym(terms=["fridge", "refrigerator"], one_way=True, reason="planted")
    got = evaluate_home_depot(train, held_out, settings.real_data, progress=False,
                              recall_settings=settings.recall, synonyms=[fridge],
                              merchandising=settings.merchandising)
    assert plain["synonyms"]["test_queries_rewritten"] == 0
    assert got["synonyms"]["sets"] == 1 and got["synonyms"]["test_queries_rewritten"] == 1
    # two test queries: "steel lamp" finds its product either way, "fridge" only through the set
    assert got["recall@10"]["lexical"] == pytest.approx(plain["recall@10"]["lexical"] + 0.5)
