"""Tokenisation in any script: accent folding, words and unspaced scripts, what stays
unsearchable, search recall over a multilingual catalog, and bundles saved by tokenizer 1."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ranking.bundle import BundleError, load_bundle
from ranking.recall.han_variants import SIMPLIFIED, TRADITIONAL
from ranking.recall.search import SearchRecall
from ranking.recall.tokenize import (
    TokenizerVersionError,
    char_bigrams,
    fold,
    search_form,
    searchable,
    tokenize,
)
from ranking.text import normalise, query_id


@pytest.mark.parametrize("text, tokens", [
    ("金龙鱼 食用油 5L Cordless Drills，ＡＢＣ",
     ["金", "龙", "鱼", "金龙", "龙鱼", "食", "用", "油", "食用", "用油", "5", "l", "cordless", "drill",
      "abc"]),
    ("宝山 premium rice 2.5kg", ["宝", "山", "宝山", "premium", "rice", "2.5", "kg"]),
    ("T恤 hc22e glass", ["t", "恤", "hc", "22", "e", "glass"]),
    ("500ml 「大米」!!", ["500", "ml", "大", "米", "大米"]),
])
def test_chinese_and_ascii_text_tokenise_exactly_as_before(text, tokens):
    """The simulated malls (Chinese and ASCII English) keep their tokens, bigrams and query ids."""
    assert tokenize(text) == tokens
    assert search_form(text) == normalise(text)
    assert char_bigrams("Ab 食用") == ["ab", "b食", "食用"]
    assert query_id("宝山 premium rice") == query_id("宝山  PREMIUM rice ")


@pytest.mark.parametrize("text, tokens", [
    ("Café Crème Brûlée", ["cafe", "creme", "brulee"]),
    ("CAFÉS", ["cafe"]),                                  # folded, then the Latin plural stem
    ("Ångström straße", ["angstrom", "strasse"]),          # case folding turns ß into ss
    ("Smørrebrød Æble Œuf Łódź Điện Þór", ["smorrebrod", "aeble", "oeuf", "lodz", "dien", "thor"]),
    ("İstanbul phở naïve", ["istanbul", "pho", "naive"]),
])
def test_accents_and_letter_variants_fold_so_a_word_matches_either_way(text, tokens):
    assert tokenize(text) == tokens
    assert char_bigrams("café") == char_bigrams("cafe")


@pytest.mark.parametrize("text, tokens", [
    ("Молоко 3,2% 1л", ["молоко", "3", "2", "1", "л"]),
    ("Ёлка автобус", ["елка", "автобус"]),                 # ё folds to е; no "s" stem off Cyrillic
    ("Καφές ΚΑΦΈΣ", ["καφεσ", "καφεσ"]),                  # tonos dropped, final sigma folded
    ("커피 머신", ["커", "피", "커피", "머", "신", "머신"]),     # Hangul: syllables and bigrams per word
    ("हल्दी पाउडर", ["हल्दी", "पाउडर"]),                       # Indic vowel signs stay in the word
    ("قهوة أرابيكا ٥٠٠", ["قهوة", "ارابيكا", "500"]),        # hamza folded, Arabic-Indic digits
    ("שָׁלוֹם", ["שלום"]),                                   # vowel points dropped
    ("Kaffee\u00admaschine", ["kaffeemaschine"]),         # a soft hyphen joins
])
def test_words_of_every_alphabetic_script_are_tokens(text, tokens):
    assert tokenize(text) == tokens


@pytest.mark.parametrize("text, tokens", [
    ("コーヒー", ["コ", "ー", "ヒ", "ー", "コー", "ーヒ", "ヒー"]),
    ("コーヒー豆", ["コ", "ー", "ヒ", "ー", "豆", "コー", "ーヒ", "ヒー", "ー豆"]),
    ("人々", ["人", "々", "人々"]),
    ("กาแฟ", ["ก", "า", "แ", "ฟ", "กา", "าแ", "แฟ"]),
    ("น้ำ", ["น้ํ", "า", "น้ํา"]),                            # a Thai letter keeps its tone mark
])
def test_scripts_written_without_spaces_become_characters_and_bigrams(text, tokens):
    assert tokenize(text) == tokens


def test_only_text_without_a_letter_or_digit_is_unsearchable():
    blank = ["!!!", "???", "🙂🙂", "¿¡ — … ·", "\u200b", " ", "❤️", "「」、。", "\u0301"]
    words = ["a", "5", "大", "ＡＢＣ!", "café", "5L?", "молоко", "コーヒー", "커피", "กาแฟ", "٥", "🙂 sí"]
    assert [q for q in blank if searchable(q) or tokenize(q)] == []
    assert [q for q in words if not searchable(q)] == []


@settings(max_examples=400, deadline=None, database=None)
@given(st.text(max_size=30))
def test_any_text_tokenises_the_same_from_its_normalised_or_search_form(text):
    """The corrector hands recall the normalised query and the dense side re-folds it."""
    tokens = tokenize(text)
    assert searchable(text) == bool(tokens)
    assert all(t and " " not in t for t in tokens)
    assert tokenize(normalise(text)) == tokens
    assert tokenize(search_form(text)) == tokens


def test_folding_skips_only_text_it_would_not_change():
    """``fold`` gives ASCII, CJK, kana and Hangul text only the traditional -> simplified
    table: the full fold (forced by an accented letter) agrees character by character, and
    only the table's characters change."""
    skipped = [*range(0x80), *range(0x3000, 0x3100), *range(0x3400, 0x4DC0), *range(0x4E00, 0xA000),
               *range(0xAC00, 0xD7A4)]
    kept = [chr(cp) for cp in skipped if normalise(chr(cp)) == chr(cp) and chr(cp) not in " \t"]
    assert [hex(ord(c)) for c in kept if fold(c + "é") != fold(c) + "e"] == []
    hiragana = {chr(cp) for cp in range(0x3041, 0x3097)} | {"ゝ", "ゞ"}
    assert {c for c in kept if fold(c) != c} == (set(TRADITIONAL) | hiragana) & set(kept)


@pytest.mark.parametrize("hiragana, katakana", [
    ("こーひー", "コーヒー"),
    ("ちょこれーと", "チョコレート"),       # small kana fold to small kana
    ("ゔぃんてーじ", "ヴィンテージ"),
    ("さゞなみ", "サヾナミ"),               # the voiced iteration mark
])
def test_hiragana_folds_to_katakana(hiragana, katakana):
    assert search_form(hiragana) == katakana
    assert tokenize(hiragana) == tokenize(katakana)


# ---- traditional and simplified Chinese ---------------------------------------------------
@pytest.mark.parametrize("traditional, simplified", [
    ("平板電腦", "平板电脑"),
    ("紙巾 24包", "纸巾 24包"),
    ("醬油 500ml", "酱油 500ml"),
    ("運動鞋 透氣", "运动鞋 透气"),
    ("羽絨服 長款", "羽绒服 长款"),
    ("電飯煲 Smart", "电饭煲 smart"),
    ("麵粉 餅乾", "面粉 饼干"),
])
def test_traditional_chinese_folds_to_simplified(traditional, simplified):
    assert search_form(traditional) == search_form(simplified) == normalise(simplified)
    assert tokenize(traditional) == tokenize(simplified)
    assert char_bigrams(traditional) == char_bigrams(simplified)


def test_the_fold_of_every_traditional_character_is_simplified_and_stays_so():
    """One character for one, and folding again changes nothing (no chains in the table);
    characters past the basic block (extension B) fold on the full path too."""
    assert len(TRADITIONAL) == len(SIMPLIFIED) > 5000
    assert not set(SIMPLIFIED) & set(TRADITIONAL)
    folded = fold(TRADITIONAL)
    assert folded == SIMPLIFIED
    assert fold(folded) == folded
    beyond = [(t, s) for t, s in zip(TRADITIONAL, SIMPLIFIED, strict=True) if ord(t) >= 0x20000]
    assert beyond and all(search_form(t) == s for t, s in beyond[:50])


def test_the_table_is_what_opencc_converts():
    """The table is generated (scripts/build_han_variants.py), not written by hand: OpenCC's
    t2s conversion of each ideograph gives it again."""
    pytest.importorskip("opencc", reason="the opencc dev dependency regenerates the table")
    import runpy

    build = runpy.run_path(str(Path(__file__).parents[1] / "scripts" / "build_han_variants.py"))
    pairs = build["variant_pairs"]()
    assert "".join(pairs) == TRADITIONAL and "".join(pairs.values()) == SIMPLIFIED, (
        "regenerate: python scripts/build_han_variants.py > ranking/recall/han_variants.py")


# ---- search recall over a catalog in several scripts ------------------------------------
TITLES = {
    1: "Café Noir coffee beans 500g",
    2: "Cafe Bustelo espresso ground",
    3: "Молоко пастеризованное 3,2% 1л",
    4: "Кефир 1% 900 мл",
    5: "コーヒー豆 ブラジル 200g",
    6: "緑茶 ティーバッグ 50袋",
    7: "Green tea bags",
    8: "Crème brûlée dessert",
    9: "Καφές ελληνικός 250g",
    10: "커피 원두 1kg",
    11: "dark roast coffee beans",
    12: "Чай чёрный листовой",
}


def _shelf(titles: dict[int, str], dim: int) -> SearchRecall:
    ids = np.array(sorted(titles), dtype=np.int64)
    return SearchRecall.from_texts([titles[i] for i in ids], ids, dim=dim)


@pytest.fixture(scope="module")
def shelf() -> SearchRecall:
    return _shelf(TITLES, dim=8)


def test_accents_do_not_matter_to_search_recall(shelf):
    assert set(shelf.lexical("cafe", 5)[0]) == {1, 2} == set(shelf.lexical("café", 5)[0])
    assert shelf.lexical("cafe noir", 5)[0][0] == 1 and shelf.hybrid("cafe noir", 5)[0][0] == 1
    assert shelf.lexical("creme brulee", 5)[0][0] == 8
    assert shelf.lexical("ΚΑΦΕΣ", 5)[0][0] == 9
    np.testing.assert_allclose(shelf.encoder.encode(["café noir"]), shelf.encoder.encode(["cafe noir"]))


def test_queries_in_other_scripts_find_their_titles(shelf):
    assert list(shelf.lexical("молоко", 5)[0]) == [3]
    assert shelf.hybrid("молоко", 5)[0][0] == 3
    assert shelf.lexical("чай", 5)[0][0] == 12
    assert shelf.lexical("コーヒー", 5)[0][0] == 5          # character overlap, no segmentation
    assert shelf.lexical("ティー", 5)[0][0] == 6
    assert shelf.lexical("こーひー", 5)[0][0] == 5          # typed in hiragana: folded to katakana
    assert shelf.lexical("커피", 5)[0][0] == 10
    # a Korean word carries its particle, compounds run together: bigrams still find the title
    assert shelf.lexical("커피를", 5)[0][0] == 10 and shelf.lexical("커피원두", 5)[0][0] == 10
    for q in ("молоко", "コーヒー", "커피"):
        assert len(shelf.dense(q, 5)[0]) == 5, q              # searched, not refused as blank


HAN_TITLES = {
    1: "华为 平板电脑 11英寸 128GB",
    2: "蘋果 平板電腦 10.9吋 256GB",  # written in traditional characters
    3: "心相印 纸巾 24包",
    4: "維達 紙巾 抽取式 3層",
    5: "金龙鱼 食用油 5L",
    6: "李锦记 醬油 1.6L",
}


@pytest.fixture(scope="module")
def han_shelf() -> SearchRecall:
    return _shelf(HAN_TITLES, dim=4)


@pytest.mark.parametrize("traditional, simplified, expected", [
    ("平板電腦", "平板电脑", {1, 2}),
    ("紙巾", "纸巾", {3, 4}),
    ("醬油", "酱油", {6}),  # 食用油 shares only 油: one character of a word is no match
])
def test_a_query_in_either_chinese_script_finds_titles_in_both(han_shelf, traditional, simplified, expected):
    for way in ("lexical", "dense", "hybrid"):
        t_ids, t_scores = getattr(han_shelf, way)(traditional, 6)
        s_ids, s_scores = getattr(han_shelf, way)(simplified, 6)
        assert list(t_ids) == list(s_ids), way
        np.testing.assert_allclose(t_scores, s_scores, rtol=1e-6)
    assert set(han_shelf.lexical(traditional, 6)[0]) == expected


# ---- parts saved by tokenizer version 1 --------------------------------------------------
def _old(bundle: Path) -> None:
    """Make ``bundle`` look saved before tokenizer versions were recorded (hashes kept valid)."""
    for rel in ("snapshot/meta.json", "recall/search/search_manifest.json"):
        _edit(bundle, rel, lambda d: d.pop("tokenizer_version"))
    _edit(bundle, "manifest.json", lambda d: d["recall"]["search"].pop("tokenizer_version"))


def _edit(bundle: Path, rel: str, change) -> None:
    path = bundle / rel
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, ensure_ascii=False))
    manifest = json.loads((bundle / "manifest.json").read_text())
    if rel in manifest["files"]:
        manifest["files"][rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        (bundle / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False))


def test_an_old_bundle_of_chinese_and_ascii_text_loads_and_searches_as_before(small_models, tmp_path):
    from ranking.engine import Engine
    from ranking.settings import load_settings

    old = tmp_path / "old"
    shutil.copytree(small_models / "latest", old)
    _old(old)
    engine = Engine.load(old, load_settings())  # verified, warmed up
    assert "tokenizer_version" not in engine.bundle.manifest["recall"]["search"]
    new = SearchRecall.load(small_models / "latest" / "recall" / "search")
    again = SearchRecall.load(old / "recall" / "search", engine.snapshot.text.characters())
    for q in ("大米", "cordless drill", "面霜 50g"):
        assert list(again.hybrid(q, 30)[0]) == list(new.hybrid(q, 30)[0])
    with pytest.raises(TokenizerVersionError, match="no catalog text to check"):
        SearchRecall.load(old / "recall" / "search")


def test_an_old_bundle_whose_text_the_tokenizer_now_reads_differently_is_refused(small_models, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(small_models / "latest", old)
    _old(old)
    _edit(old, "snapshot/meta.json", lambda d: d["bigram_vocabulary"].extend(["fé", "мо"]))
    with pytest.raises(BundleError, match=r"tokenizer version 1 .*: é м о; rebuild the bundle"):
        load_bundle(old)


def test_a_version_2_part_loads_unless_its_catalog_has_traditional_chinese_or_hiragana(tmp_path):
    """Version 3 only adds the traditional -> simplified and hiragana -> katakana folds: a
    part built by version 2 over other text has the same tokens and loads; one whose titles
    hold traditional characters or hiragana would miss queries the new code folds, so it is
    refused with the characters named."""
    shelf = SearchRecall.from_texts(["纸巾 Café", "平板电脑"], np.array([1, 2]), dim=2)
    shelf.save(tmp_path)
    manifest = json.loads((tmp_path / "search_manifest.json").read_text())
    manifest["tokenizer_version"] = 2
    (tmp_path / "search_manifest.json").write_text(json.dumps(manifest))
    assert SearchRecall.load(tmp_path, set("纸巾 Café平板电脑")).manifest["products"] == 2
    with pytest.raises(TokenizerVersionError, match=r"version 2 .*traditional.*: 紙 腦 電; rebuild"):
        SearchRecall.load(tmp_path, set("紙巾 Café平板電腦"))
    with pytest.raises(TokenizerVersionError, match=r"hiragana to katakana\): こ ひ; rebuild"):
        SearchRecall.load(tmp_path, set("纸巾 こーひー コーヒー"))
    with pytest.raises(TokenizerVersionError, match="no catalog text to check"):
        SearchRecall.load(tmp_path)
    manifest["tokenizer_version"] = 4
    (tmp_path / "search_manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(TokenizerVersionError, match="version 4, this code reads version 3"):
        SearchRecall.load(tmp_path, set("纸巾"))


def test_a_search_part_of_accented_text_saved_by_tokenizer_1_is_refused(tmp_path):
    shelf = SearchRecall.from_texts(["Café Noir", "dark roast"], np.array([1, 2]), dim=2)
    shelf.save(tmp_path)
    manifest = json.loads((tmp_path / "search_manifest.json").read_text())
    assert manifest.pop("tokenizer_version") == 3
    (tmp_path / "search_manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(TokenizerVersionError, match="é"):
        SearchRecall.load(tmp_path, set("café noir dark roast"))
    assert SearchRecall.load(tmp_path, set("cafe noir dark roast")).manifest["products"] == 2


def test_every_reader_of_a_bundles_search_part_refuses_one_an_older_tokenizer_cut_differently(
        small_models, tmp_path):
    """The service, ``shelfrank evaluate`` and the debias study load the search part through
    one function: a version 2 part over a catalog with a traditional character is a
    BundleError (evaluate used to end in a TokenizerVersionError traceback)."""
    from ranking.recall.bundle_part import load_search_recall

    old = tmp_path / "old"
    shutil.copytree(small_models / "latest", old)
    assert load_search_recall(load_bundle(old)).manifest["tokenizer_version"] == 3
    _edit(old, "recall/search/search_manifest.json", lambda d: d.update(tokenizer_version=2))
    assert load_search_recall(load_bundle(old)) is not None  # simplified catalog: reads alike
    _edit(old, "snapshot/meta.json", lambda d: d["bigram_vocabulary"].append("紙巾"))
    with pytest.raises(BundleError, match=r"tokenizer version 2 .*: 紙; rebuild"):
        load_search_recall(load_bundle(old))
