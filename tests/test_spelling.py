"""Query spelling correction: which words it rewrites, to what, and what the service shows."""

from __future__ import annotations

from itertools import product
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from ranking.recall.lexical import BM25Index
from ranking.recall.search import SearchRecall
from ranking.recall.spelling import QuerySpeller, edit_distance
from ranking.settings import load_settings
from ranking.text import query_id

DF = {"vacuum": 40, "cleaner": 30, "faucet": 25, "hinge": 12, "pet": 9, "screen": 20, "stain": 8,
      "electric": 15, "kitchen": 30, "refrigerator": 6, "grommet": 3, "typoed": 1, "ceiling": 11, "fan": 22,
      "sealing": 2}


@pytest.fixture(scope="module")
def speller() -> QuerySpeller:
    return QuerySpeller(DF)


@pytest.mark.parametrize("typed, meant", [
    ("vaccuum cleaner", "vacuum cleaner"),      # insertion
    ("kitchen faucit", "kitchen faucet"),        # substitution
    ("door hindges", "door hinges"),             # two edits on the stem, plural kept
    ("ceilng fan", "ceiling fan"),               # deletion
    ("eletcric heater", "electric heater"),      # adjacent swap = one edit
    ("petscreen door", "pet screen door"),       # two catalog words run together
    ("refirgerator", "refrigerator"),            # two edits on a long word
])
def test_typos_become_catalog_words(speller, typed, meant):
    fix = speller.correct(typed)
    assert fix.text == meant and fix.changed and fix.typed == typed


@pytest.mark.parametrize("query", [
    "vacuum cleaners",      # known (plural of a catalog word)
    "staining",             # a suffixed form of "stain": a variant, not a typo
    "elec kitchen",         # a short word starting a catalog word: an abbreviation
    "fann",                 # shorter than min_length: too many neighbours to guess
    "typoes",               # "typoed" sits in one product only: never a target
    "grommmmmet",           # three edits away: left alone
    "食用油 5l",             # Chinese and numbers are never rewritten
    "vacumt恤 e4120cleanr",  # nor letters fused to Chinese or digits (names, model codes)
    "zzzzzzz",              # nothing near
])
def test_known_words_variants_and_far_words_are_left_alone(speller, query):
    fix = speller.correct(query)
    assert not fix.changed and fix.corrections == ()


def test_words_of_every_spaced_script_are_corrected_as_the_tokenizer_folds_them():
    """An accented catalog word is known by its folded token ("creme" was unknown next to
    "crème", and one edit from "crepe"); Cyrillic, Greek and accented Latin typos become
    the catalog's (folded) word; kana, Indic words and words glued to digits stay."""
    titles = ["Crème brûlée dessert", "Crème fraîche", "Crepe pan", "Crepe maker", "Молоко 1л",
              "Молоко 2л", "コーヒー豆", "コーヒー粉", "vacuum cleaner", "vacuum bags", "Καφές ελληνικός",
              "Καφές φίλτρου", "हल्दी पाउडर", "हल्दी साबुत"]
    bm25 = BM25Index.build(titles, np.arange(len(titles)))
    speller = QuerySpeller(bm25.document_frequency())
    for query in ("creme brulee", "crème brûlée", "молоко", "ΚΑΦΈΣ", "コーヒー", "cafè crepe", "малоко1л",
                  "हल्दि"):
        assert not speller.correct(query).changed, query
    assert speller.correct("vacum bags").text == "vacuum bags"
    fixed = speller.correct("малоко 1л")
    assert fixed.text == "молоко 1л" and fixed.corrections == (("малоко", "молоко"),)
    assert speller.correct("καφρς").text == "καφεσ"              # the folded token: final sigma, no tonos
    assert speller.correct("Crèmme fraiche").corrections == (("crèmme", "creme"),)


def test_two_edits_only_for_long_words():
    speller = QuerySpeller({"sealant": 5, "seal": 5, "lamp": 5})
    assert speller.correct("sealantt").text == "sealant"       # one edit, any length >= 5
    assert speller.correct("selaantt").text == "sealant"       # two edits, 8 letters
    assert not QuerySpeller({"lampshade": 5}, min_length_two_edits=12).correct("lmapshaed").changed


def test_the_most_frequent_of_equally_near_words_wins():
    speller = QuerySpeller({"cable": 50, "table": 5})
    assert speller.correct("xable").text == "cable"


def test_edit_distance_matches_a_brute_force_reference():
    def reference(a: str, b: str) -> int:  # plain recursion, swaps of neighbours cost one
        if not a or not b:
            return len(a) + len(b)
        best = min(reference(a[1:], b) + 1, reference(a, b[1:]) + 1,
                   reference(a[1:], b[1:]) + (a[0] != b[0]))
        if len(a) > 1 and len(b) > 1 and a[0] == b[1] and a[1] == b[0]:
            best = min(best, reference(a[2:], b[2:]) + 1)
        return best

    words = ["".join(p) for n in range(4) for p in product("ab", repeat=n)] + ["abc", "bca", "cab"]
    for a in words:
        for b in words:
            assert edit_distance(a, b) == reference(a, b), (a, b)


def test_max_distance_is_checked():
    with pytest.raises(ValueError, match="max_distance"):
        QuerySpeller(DF, max_distance=3)


def test_search_recall_finds_the_product_a_misspelled_query_meant():
    titles = ["Bosch cordless vacuum cleaner", "Dyson upright vacuum", "Moen kitchen faucet chrome",
              "Delta bathroom faucet", "Broom and dust pan set", "Cordless drill 18V"] * 3
    ids = np.arange(1, len(titles) + 1, dtype=np.int64)
    recall = SearchRecall.from_texts(titles, ids, dim=8)
    typed = "vaccum cleanr"
    assert len(recall.lexical(typed, 5)[0]) == 0  # BM25 cannot match words it never saw
    assert recall.correct(typed).text == typed   # no speller yet: searched as typed
    recall.use_speller_from(load_settings([]).recall)
    fixed = recall.correct(typed)
    assert fixed.text == "vacuum cleaner"
    found, _ = recall.lexical(fixed.text, 3)
    assert {titles[i - 1] for i in found} == {"Bosch cordless vacuum cleaner"}
    recall.use_speller_from(load_settings(["recall.spelling_correction=false"]).recall)
    assert recall.speller is None and not recall.correct(typed).changed


def test_simulated_queries_are_searched_as_typed(small_mall: Path, small_models: Path):
    """The simulator writes queries from catalog words: correcting them would make serving
    see other text than training did."""
    recall = SearchRecall.load(small_models / "latest" / "recall" / "search")
    recall.use_speller_from(load_settings([]).recall)
    queries = pd.read_parquet(small_mall / "queries.parquet").text.tolist()
    assert len(queries) > 50
    assert [q for q in queries if recall.correct(q).changed] == []


def test_the_service_searches_the_corrected_query_and_says_so(small_models: Path, tmp_path: Path):
    from ranking.event_log import read_event_log
    from serving.app import create_app

    settings = load_settings([f"serving.bundle={small_models / 'latest'}", f"serving.events_dir={tmp_path}"])
    with TestClient(create_app(settings)) as c:
        fixed = c.post("/v1/search", json={"query": "Cookign oil", "page_size": 5, "user_id": 3}).json()
        assert fixed["corrected_query"] == "cooking oil"
        assert fixed["query_id"] == query_id("cooking oil") and fixed["cards"]
        plain = c.post("/v1/search", json={"query": "cooking oil", "page_size": 5}).json()
        assert plain["corrected_query"] is None and plain["query_id"] == query_id("cooking oil")
        typed = c.post("/v1/search", json={"query": "Cookign oil", "page_size": 5,
                                           "spell_correct": False}).json()
        assert typed["corrected_query"] is None and typed["query_id"] == query_id("Cookign oil")
        bad = c.post("/v1/search", json={"query": "oil", "spell_correct": "maybe"})
        assert bad.status_code == 422
        ids = [card["product_id"] for card in fixed["cards"]]
        rerank = c.post("/v1/rerank", json={"surface": "search", "query": "Cookign oil",
                                            "candidates": ids}).json()
        assert rerank["corrected_query"] == "cooking oil" and rerank["query_id"] == query_id("cooking oil")
        as_typed = c.post("/v1/rerank", json={"surface": "search", "query": "Cookign oil", "candidates": ids,
                                              "spell_correct": False}).json()
        assert as_typed["corrected_query"] is None
    exposures = read_event_log(tmp_path).tables["exposures"].to_pandas()
    corrected = exposures[exposures.typed_query_id.notna()]
    assert set(corrected.typed_query_id.astype(np.int64)) == {query_id("Cookign oil")}
    assert set(corrected.query_id) == {query_id("cooking oil")}
    assert len(corrected.request_id.unique()) == 2  # the corrected search and rerank


def test_the_search_recall_caches_corrections_and_the_speller_does_not():
    """The bench times ``QuerySpeller.correct`` as an uncached lookup; the service's owner of
    the corrector keeps ``recall.spelling_cache_queries`` answers."""
    recall = SearchRecall.from_texts(["cordless vacuum cleaner", "kitchen faucet"] * 3,
                                     np.arange(1, 7, dtype=np.int64), dim=4)
    recall.use_speller_from(load_settings([]).recall)
    assert recall.correct("vaccum") is recall.correct("vaccum")
    assert recall.speller.correct("vaccum") is not recall.speller.correct("vaccum")
    recall.use_speller_from(load_settings(["recall.spelling_cache_queries=0"]).recall)
    assert recall.correct("vaccum") is not recall.correct("vaccum")
    assert recall.correct("vaccum").text == "vacuum"


def test_searched_as_typed_is_one_correction_whoever_answers(speller):
    """No corrector, correction off and nothing to correct all give SpellCorrection.as_typed:
    the typed query, normalised, unchanged."""
    from ranking.recall.spelling import SpellCorrection

    typed = "Kitchen  FAUCET"
    as_typed = SpellCorrection(typed, "kitchen faucet")
    assert speller.correct(typed) == SpellCorrection.as_typed(typed) == as_typed
    recall = SearchRecall.from_texts(["kitchen faucet", "brass faucet", "kitchen sink"],
                                     np.arange(1, 4, dtype=np.int64), dim=4)
    assert recall.correct(typed) == SpellCorrection.as_typed(typed)


def test_a_service_with_correction_off_searches_as_typed(small_models: Path, tmp_path: Path):
    from ranking.event_log import read_event_log
    from serving.app import create_app

    settings = load_settings([f"serving.bundle={small_models / 'latest'}", f"serving.events_dir={tmp_path}",
                              "recall.spelling_correction=false"])
    with TestClient(create_app(settings)) as c:
        assert c.app.state.shelfrank.engine.correct_query("Cookign oil").changed is False
        got = c.post("/v1/search", json={"query": "Cookign oil", "page_size": 5}).json()
        assert got["corrected_query"] is None and got["query_id"] == query_id("Cookign oil")
    exposures = read_event_log(tmp_path).tables["exposures"].to_pandas()
    assert len(exposures) and exposures.typed_query_id.isna().all()


def _same_index(a: QuerySpeller, b: QuerySpeller) -> None:
    assert a.words == b.words
    assert a._keys.dtype == b._keys.dtype and a._owners.dtype == b._owners.dtype
    assert np.array_equal(a._keys, b._keys) and np.array_equal(a._owners, b._owners)


def test_a_speller_grown_from_a_smaller_vocabulary_equals_a_fresh_build():
    grown_df = {**DF, "typoed": 2, "grommets": 4, "ceilings": 3, "vacuums": 2, "zz": 5, "lamp": 1,
                "ahinge": 3}  # shares the delete "hinge" with an earlier word and sorts before it
    earlier = QuerySpeller(DF)
    grown, fresh = QuerySpeller(grown_df, grown_from=earlier), QuerySpeller(grown_df)
    assert grown.grown and not fresh.grown
    _same_index(grown, fresh)
    for typed in ("vaccuum", "typoedd", "grommts", "ceilngs", "kitchen faucit", "petscreen"):
        assert grown.correct(typed) == fresh.correct(typed)
    assert QuerySpeller(grown_df, grown_from=QuerySpeller(grown_df)).grown  # nothing new: still grown


def test_a_speller_that_lost_a_target_or_has_other_settings_is_built_afresh():
    earlier = QuerySpeller(DF)
    lost = {**DF, "grommet": 1}  # a retitled product took it below min_df
    speller = QuerySpeller(lost, grown_from=earlier)
    assert not speller.grown
    _same_index(speller, QuerySpeller(lost))
    other = QuerySpeller(DF, max_distance=1, grown_from=earlier)
    assert not other.grown
    _same_index(other, QuerySpeller(DF, max_distance=1))
