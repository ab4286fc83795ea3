"""Queries typed in pinyin read as the catalog's Chinese: what is read, what is left alone,
and what the service searches and shows."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from ranking.recall.pinyin import PinyinReader, character_readings
from ranking.recall.search import SearchRecall
from ranking.settings import load_settings

TITLES = [
    "华为 手机 256GB", "小米 手机 5G", "苹果 平板电脑 11英寸", "联想 平板电脑 wifi",
    "金龙鱼 食用油 5L", "鲁花 食用油 4L", "李锦记 酱油 1.6L", "雀巢 咖啡 30条", "西湖 绿茶 250g",
    "银行卡 收纳盒", "进口 大米 5kg", "东北 大米 10kg", "鲜花 礼盒", "portable charger 65W",
    "rice cooker 5L", "西安 特产 礼盒",
]


@pytest.fixture(scope="module")
def recall() -> SearchRecall:
    titles = TITLES * 2  # every bigram in two products: min_df 2
    return SearchRecall.from_texts(titles, np.arange(1, len(titles) + 1, dtype=np.int64), dim=8)


@pytest.fixture(scope="module")
def reader(recall) -> PinyinReader:
    return PinyinReader(recall.bm25.document_frequency())


@pytest.mark.parametrize("typed, chinese", [
    ("shouji", "手机"),
    ("pingbandiannao", "平板电脑"),   # four syllables, every pair a catalog bigram
    ("diannao", "电脑"),
    ("shiyongyou", "食用油"),
    ("jiangyou", "酱油"),
    ("kafei", "咖啡"),
    ("dami", "大米"),                 # four letters are enough for two syllables
    ("lvcha", "绿茶"),                # ü typed as v
    ("lucha", "绿茶"),                # or as u
    ("yinhang", "银行"),              # 行 is "xing" and "hang": every reading counts
    ("xian", "西安"),                 # one syllable (鲜) is never read alone: xi-an is
    ("xianhua", "鲜花"),
    ("xiaomishouji", "小米 手机"),    # two words run together: the titles write them apart
    ("huaweipingbandiannao", "华为 平板电脑"),
])
def test_pinyin_of_catalog_chinese_reads_back(reader, typed, chinese):
    assert reader.read(typed) == chinese


@pytest.mark.parametrize("typed", [
    "hua",        # one syllable names dozens of characters
    "ma",
    "charger",    # not pinyin
    "banana",     # ba-na-na: syllables, but no catalog bigram chain
    "shoujj",     # not syllables
    "zhongguo",   # pinyin, but the catalog does not write it
    "sh0uji",
])
def test_words_that_are_not_pinyin_of_catalog_chinese_are_not_read(reader, typed):
    assert reader.read(typed) is None


def test_readings_cover_polyphones_and_both_spellings_of_u_umlaut():
    readings = character_readings(["行", "绿", "女", "款"])
    assert {"xing", "hang"} <= readings["行"].keys()
    assert {"lv", "lu"} <= readings["绿"].keys() and {"nv", "nu"} <= readings["女"].keys()
    # the usual reading is free, the others cost: 款 is "kuan", and only rarely "xin"
    assert readings["行"]["xing"] == 0 > readings["行"]["hang"]
    assert readings["款"]["kuan"] == 0 > readings["款"]["xin"]


def test_readings_read_from_pypinyins_table_are_its_api_answers(monkeypatch):
    """The reader reads pypinyin's character table itself (its phrase dictionary would
    cost every service worker 55 MB): the same readings, in the same order, as
    ``pinyin(ch, heteronym=True)``, for every character it reads; without the table it
    asks the API."""
    from pypinyin import Style, pinyin
    from pypinyin.pinyin_dict import pinyin_dict

    from ranking.recall import pinyin as reader_module

    listed = reader_module._listed_readings()
    every = [chr(cp) for cp in pinyin_dict]  # all 41,923 characters pypinyin reads
    assert len(every) > 40_000
    assert [c for c in every if listed(c) != pinyin(c, style=Style.NORMAL, heteronym=True)[0]] == []
    chars = sorted({c for t in TITLES for c in t if "\u4e00" <= c <= "\u9fff"} | set("行绿女款嗯呣欸"))
    from_table = character_readings(chars)
    monkeypatch.setattr(reader_module.os.path, "isfile", lambda path: False)
    assert character_readings(chars) == from_table


def test_a_bigram_in_one_product_is_no_reading():
    titles = ["中国 茶叶", "手机 壳", "手机 膜"]
    recall = SearchRecall.from_texts(titles, np.arange(1, 4, dtype=np.int64), dim=4)
    reader = PinyinReader(recall.bm25.document_frequency(), min_df=2)
    assert reader.read("shouji") == "手机" and reader.read("zhongguo") is None
    assert PinyinReader(recall.bm25.document_frequency(), min_df=1).read("zhongguo") == "中国"


def test_a_catalog_without_chinese_reads_nothing_and_loads_no_dictionary(monkeypatch):
    """Home Depot's speller builds a reader too: with no Chinese it never opens pypinyin's table."""
    from ranking.recall import pinyin as reader_module

    def unwanted():
        raise AssertionError("the readings table was loaded for a catalog without Chinese")

    monkeypatch.setattr(reader_module, "_listed_readings", unwanted)
    reader = PinyinReader({"shouji": 3, "rice": 5})
    assert reader.characters == 0 and reader.read("shouji") is None


def test_the_speller_reads_pinyin_before_correcting_and_keeps_catalog_words(recall):
    recall.use_speller_from(load_settings([]).recall)
    fix = recall.correct("Shouji 256GB")
    assert fix.text == "手机 256gb" and fix.corrections == (("shouji", "手机"),)
    assert recall.correct("pingban diannao").text == "平板 电脑"
    assert recall.correct("portable charger").changed is False    # catalog words stay
    assert recall.correct("portabel chargr").text == "portable charger"  # typos still corrected
    assert recall.correct("shouji5g").changed is False              # glued to digits: a code
    # glued to Chinese (the input method switched mid-word): read as pinyin, never edited
    assert recall.correct("华为shouji").text == "华为手机"
    assert recall.correct("T恤").changed is False and recall.correct("chargr恤").changed is False
    found, _ = recall.lexical(recall.correct("kafei").text, 3)
    assert {TITLES[(i - 1) % len(TITLES)] for i in found} == {"雀巢 咖啡 30条"}
    recall.use_speller_from(load_settings(["recall.pinyin_queries=false"]).recall)
    assert recall.correct("shouji").changed is False
    recall.use_speller_from(load_settings(["recall.pinyin_min_length=7"]).recall)
    assert recall.correct("shouji").changed is False and recall.correct("diannao").text == "电脑"


def test_a_catalog_word_that_is_also_pinyin_is_not_rewritten():
    titles = ["Dami organic rice", "Dami brown rice", "东北 大米", "进口 大米"]
    recall = SearchRecall.from_texts(titles, np.arange(1, 5, dtype=np.int64), dim=4)
    recall.use_speller_from(load_settings([]).recall)
    assert recall.correct("dami rice").changed is False


def test_the_service_searches_a_pinyin_query_as_its_chinese_and_says_so(small_models: Path, tmp_path: Path):
    from serving.app import create_app

    # cold start off: its search slot draws a new product per request seed, so two requests for the
    # same query may differ in that slot (the pages are compared card for card); live state off:
    # the first page's exposures, once the live state has read them, change the second page (a
    # loaded CI machine let that happen between the two requests)
    settings = load_settings([f"serving.bundle={small_models / 'latest'}", f"serving.events_dir={tmp_path}",
                              "cold_start.enabled=false", "live.backend=off"])
    with TestClient(create_app(settings)) as c:
        for typed, chinese in (("shouji", "手机"), ("pingban diannao", "平板 电脑"), ("kafei", "咖啡")):
            got = c.post("/v1/search", json={"query": typed, "page_size": 10, "user_id": 3})
            assert got.status_code == 200, got.text
            want = c.post("/v1/search", json={"query": chinese, "page_size": 10, "user_id": 3}).json()
            assert got.json()["corrected_query"] == chinese
            assert [x["product_id"] for x in got.json()["cards"]] == [x["product_id"] for x in want["cards"]]
            assert want["cards"]
        typed = c.post("/v1/search", json={"query": "shouji", "spell_correct": False}).json()
        assert typed["corrected_query"] is None


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(alphabet=st.sampled_from("shoujipngbadiceklvmrytxzw 手机平板молкоΚαφές5-é"), max_size=24))
def test_any_query_corrects_without_error_and_a_correction_is_final(query):
    """Pinyin reading and edit-distance correction over a catalog of three scripts: no text
    makes them fail, and the corrected query needs no further correction."""
    speller = _three_script_speller()
    fixed = speller.correct(query)
    assert not speller.correct(fixed.text).changed, (query, fixed)


@cache
def _three_script_speller():
    titles = [*TITLES, "Молоко 1л", "Молоко 2л", "Καφές ελληνικός", "Καφές φίλτρου"] * 2
    recall = SearchRecall.from_texts(titles, np.arange(1, len(titles) + 1, dtype=np.int64), dim=4)
    return recall.use_speller_from(load_settings([]).recall).speller


def test_a_reader_grown_from_a_smaller_vocabulary_equals_a_fresh_one_and_reads_only_new_characters(
        recall, monkeypatch):
    import ranking.recall.pinyin as pinyin

    df = recall.bm25.document_frequency()
    smaller = {t: n for t, n in df.items() if "机" not in t}
    earlier = PinyinReader(smaller)
    asked: list[list[str]] = []
    real = pinyin.character_readings
    monkeypatch.setattr(pinyin, "character_readings", lambda chars: asked.append(chars) or real(chars))
    grown, fresh = PinyinReader(df, grown_from=earlier), PinyinReader(df)
    assert asked[0] == ["机"] and len(asked) == 2  # the grown reader read only 机; the fresh one all
    assert grown._readings == fresh._readings and list(grown._readings) == list(fresh._readings)
    assert grown._start == fresh._start and dict(grown._next) == dict(fresh._next)
    assert {s: list(c.items()) for s, c in grown._by_syllable.items()} == \
        {s: list(c.items()) for s, c in fresh._by_syllable.items()}
    assert grown.read("shouji") == fresh.read("shouji") == "手机"
    PinyinReader(df, grown_from=grown)
    assert len(asked) == 2  # nothing new: the table is not read
