"""A known product's title, brand or category changes in a loaded engine
(ranking.live.known_product_text): search, card, catalog text, category columns, homepage leaf lists."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from ranking.engine import Engine
from ranking.live.known_product_leaf import move_to_leaf
from ranking.live.known_product_text import retext_products
from ranking.live.new_product_homepage import merit_of
from ranking.live.new_product_text import replace_rows
from ranking.pipeline import RankRequest
from ranking.recall.search import SearchRecall
from ranking.settings import load_settings


@pytest.fixture
def engine(small_models):
    eng = Engine.load(small_models / "latest", load_settings([]))
    yield eng
    eng.close()


def _search_recall(engine: Engine):
    return next(r.search for r in engine.recall if r.search is not None)


def _homepage_recall(engine: Engine):
    return next(r.homepage for r in engine.recall if r.homepage is not None)


def _search(engine: Engine, query: str, size: int = 40):
    snap = engine.snapshot
    return engine.rank("search", RankRequest(surface="search", page_size=size, now_ms=snap.as_of_ms, hour=12,
                                             query=query, seed=3))


def _live_product(engine: Engine, skip: int = 0) -> int:
    c = engine.snapshot.products.columns
    ok = np.flatnonzero((c["banned"] == 0) & (c["stock"] > 0))
    return int(engine.snapshot.products.ids[ok[skip]])


def test_a_retitled_product_is_found_by_its_new_word_and_no_longer_by_its_old_one(engine):
    pid, other = _live_product(engine, 3), _live_product(engine, 4)
    search = _search_recall(engine)
    other_row = search.bm25.weights.tocsr()[int(np.flatnonzero(search.product_ids == other)[0])].toarray()
    assert retext_products(engine, [{"product_id": pid, "title": "zorblaxalpha thermos cup"}]) == 1
    assert search.lexical("zorblaxalpha", 10)[0].tolist() == [pid]
    page = _search(engine, "zorblaxalpha")
    card = next(c for c in page.cards if c["product_id"] == pid)
    assert card["title"] == "zorblaxalpha thermos cup"
    assert retext_products(engine, [{"product_id": pid, "title": "quizzlebrook thermos cup"}]) == 1
    assert search.lexical("quizzlebrook", 10)[0].tolist() == [pid]
    assert pid not in search.lexical("zorblaxalpha", 10)[0].tolist()
    assert pid not in {c["product_id"] for c in _search(engine, "zorblaxalpha").cards}
    # frozen statistics: another product's weights did not move
    after = search.bm25.weights.tocsr()[int(np.flatnonzero(search.product_ids == other)[0])].toarray()
    assert np.array_equal(after[:, :other_row.shape[1]], other_row)
    # the catalog text the features read follows too
    text = engine.snapshot.text
    row = int(engine.snapshot.products.rows(np.array([pid]))[0])
    words = {text.vocabulary[j] for j in text.product_tokens[row].indices}
    assert "quizzlebrook" in words and "zorblaxalpha" not in words
    # the same change again changes nothing
    assert retext_products(engine, [{"product_id": pid, "title": "quizzlebrook thermos cup"}]) == 0


def test_a_retitled_product_moves_in_the_dense_index(engine):
    brands = [n for n in engine.snapshot.text.brand_names.values() if n.isascii() and len(n) >= 5][:3]
    title = " ".join(brands) + " kettle"  # catalog words no product holds all of
    pid = _live_product(engine, 5)
    search = _search_recall(engine)
    assert pid not in search.dense(title, 10)[0]
    n = search.index.size
    retext_products(engine, [{"product_id": pid, "title": title}])
    assert pid in search.dense(title, 10)[0]
    assert search.index.size == n  # the exact index rebuilt, not grown
    row = int(np.flatnonzero(search.product_ids == pid)[0])
    index_row = int(np.flatnonzero(search.index.ids == pid)[0])
    assert np.allclose(search.vectors[row], search.index.index.reconstruct(index_row))  # both sides agree
    sim = search.dense_similarity([title], np.zeros(1, np.int64), np.array([pid]))
    assert sim[0] > 0.5


def test_a_category_change_moves_the_product_to_the_new_leafs_homepage_lists(engine):
    snap, home = engine.snapshot, _homepage_recall(engine)
    users = snap.users.ids[:40].tolist()
    none = (np.array([], np.int64), None)
    head = next(int(ids[0]) for u in users
                for ids, _ in [home.sources(int(u), 20).get("top_categories", none)] if len(ids))
    cols = snap.products.columns
    new_cat = int(cols["category_id"][snap.products.rows(np.array([head]))[0]])
    new_leaf = int(snap.leaf_of_category(np.array([new_cat]))[0])
    ok = (cols["banned"] == 0) & (cols["stock"] > 0) & (cols["category_id"] != new_cat)
    merit = merit_of(snap.products, snap.products.ids)
    pid = int(snap.products.ids[np.flatnonzero(ok)[np.argmax(merit[ok])]])
    old_leaf = int(snap.leaf_of_category(np.array([int(cols["category_id"][snap.products.rows(
        np.array([pid]))[0]])]))[0])
    before = len(home.a["by_leaf"])
    assert retext_products(engine, [{"product_id": pid, "category_id": new_cat}]) == 1
    a, ids = home.a, home.product_ids

    def segment(leaf: int) -> list[int]:
        return ids[a["by_leaf"][a["leaf_ptr"][leaf]:a["leaf_ptr"][leaf + 1]]].tolist()

    assert pid in segment(new_leaf) and pid not in segment(old_leaf)
    assert len(a["by_leaf"]) == before == int(a["leaf_ptr"][-1]) and len(set(a["by_leaf"].tolist())) == before
    row = int(engine.snapshot.products.rows(np.array([pid]))[0])
    assert int(engine.snapshot.products.columns["category_id"][row]) == new_cat
    recalled = {p for u in users for p in home.sources(int(u), 20).get("top_categories",
                                                                       (np.array([]), None))[0].tolist()}
    assert pid in recalled  # the best of every leaf now heads its new leaf's list


def test_unknown_and_unchanged_products_are_left_alone(engine):
    pid = _live_product(engine)
    title = engine.catalog.titles_of(np.array([pid]))[0]
    rows = [{"product_id": pid, "title": title}, {"product_id": pid, "price": 3.0}]
    assert retext_products(engine, rows) == 0
    assert retext_products(engine, [{"product_id": int(engine.snapshot.products.ids.max()) + 5,
                                     "title": "nobody"}]) == 0
    assert retext_products(engine, []) == 0


def test_replace_rows_and_move_to_leaf_on_small_arrays():
    old = sp.csr_matrix(np.array([[1, 0], [0, 2], [3, 0]], np.float32))
    new = sp.csr_matrix(np.array([[0, 0, 5]], np.float32))
    out = replace_rows(old, np.array([1]), new).toarray()
    assert out.tolist() == [[1, 0, 0], [0, 0, 5], [3, 0, 0]]
    from ranking.features.snapshot import EntityTable
    products = EntityTable(np.arange(6, dtype=np.int64), {
        "product_score": np.array([90, 80, 70, 60, 50, 95], np.float64), "sales_velocity": np.zeros(6)})
    arrays = {"product_ids": np.arange(6, dtype=np.int64), "product_leaf": np.array([0, 0, 0, 1, 1, 1]),
              "by_leaf": np.array([0, 1, 2, 5, 3, 4]), "leaf_ptr": np.array([0, 3, 6]),
              "reach": np.array([.9, .8, .7, .6, .5, .95], np.float32),
              "by_leaf_reach": np.array([0, 1, 2, 5, 3, 4])}
    out = move_to_leaf(arrays, products, np.array([5]), np.array([0]))
    assert out["by_leaf"].tolist() == [5, 0, 1, 2, 3, 4] and out["leaf_ptr"].tolist() == [0, 4, 6]
    assert out["by_leaf_reach"].tolist() == [5, 0, 1, 2, 3, 4]
    assert out["product_leaf"].tolist() == [0, 0, 0, 1, 1, 0]
    assert arrays["by_leaf"].tolist() == [0, 1, 2, 5, 3, 4]  # copy-on-write
    back = move_to_leaf(out, products, np.array([5, 1]), np.array([1, 1]))
    assert back["by_leaf"].tolist() == [0, 2, 5, 1, 3, 4] and back["leaf_ptr"].tolist() == [0, 2, 6]


@pytest.mark.parametrize("exact_max", [100_000, 0])  # an exact index, then an HNSW one
def test_replace_search_on_both_index_kinds(exact_max):
    from ranking.live.new_product_search import bm25_settings, replace_search, search_statistics

    texts = [f"{a} {b} kettle" for a in ("steel", "glass", "copper", "iron", "clay")
             for b in ("tall", "short", "wide", "narrow")]
    search = SearchRecall.from_texts(texts, np.arange(1, len(texts) + 1), dim=8, exact_max=exact_max)
    other = search.bm25.weights.tocsr()[5].toarray()
    stats = search_statistics(search.bm25, *bm25_settings(search))
    made = replace_search(search, np.array([3]), [["porcelain", "teapot"]], ["porcelain teapot"], stats)
    made.publish(search)
    assert search.lexical("porcelain", 5)[0].tolist() == [3]
    assert texts[2] == "steel wide kettle" and 3 not in search.lexical("wide", 20)[0].tolist()
    assert 7 in search.lexical("wide", 20)[0].tolist()  # "glass wide kettle" still is
    assert np.array_equal(search.bm25.weights.tocsr()[5].toarray()[:, :other.shape[1]], other)
    ids = search.index.search(search.vectors[np.flatnonzero(search.product_ids == 3)], 40)[1][0]
    assert ids[0] == 3 and (ids == 3).sum() == 1  # the old vector's row answers no id
    assert search.index.kind == ("exact" if exact_max else "hnsw")


def test_the_follower_re_indexes_after_its_overlay_and_retries_a_failed_one(engine, tmp_path, monkeypatch):
    from test_catalog_availability import Catalog

    import ranking.live.catalog_follower as follower_module

    pid = _live_product(engine, 6)
    search = _search_recall(engine)
    catalog = Catalog([engine], tmp_path / "events")
    real, calls = follower_module.retext_products, []

    def failing_once(eng, rows):
        calls.append(len(rows))
        if len(calls) == 1:
            raise RuntimeError("planted")
        return real(eng, rows)

    monkeypatch.setattr(follower_module, "retext_products", failing_once)
    catalog.products([{"product_id": pid, "title": "vorpalquine teapot", "price": 12.5}])
    assert pid not in search.lexical("vorpalquine", 5)[0].tolist()  # the re-index failed ...
    row = int(engine.snapshot.products.rows(np.array([pid]))[0])
    assert float(engine.snapshot.products.columns["price"][row]) == 12.5  # ... the price applied
    catalog.follower.catch_up()  # the next poll: no new rows, the re-index retried
    assert search.lexical("vorpalquine", 5)[0].tolist() == [pid]
    assert engine.catalog.titles_of(np.array([pid]))[0] == "vorpalquine teapot"
    assert calls == [1, 1]
