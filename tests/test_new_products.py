"""New products in a loaded engine (ranking.live.new_products): searchable, rankable, eligible, safe."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

from ranking.engine import Engine
from ranking.features.snapshot import EntityTable, PairSet
from ranking.live.new_product_homepage import insert_by_leaf, insert_ranked
from ranking.live.new_product_search import search_statistics
from ranking.live.new_products import add_products
from ranking.pipeline import RankRequest
from ranking.recall.lexical import BM25Index
from ranking.row_lookup import RowLookup
from ranking.settings import load_settings


@pytest.fixture
def engine(small_models):
    eng = Engine.load(small_models / "latest", load_settings([]))
    yield eng
    eng.close()


def _like(engine: Engine, row: int, product_id: int, title: str, **changes) -> dict:
    """A listing shaped like the bundle's product at ``row`` (same store, brand, leaf, price)."""
    c = engine.snapshot.products.columns
    listing = {"product_id": product_id, "store_id": int(c["store_id"][row]),
               "brand_id": int(c["brand_id"][row]),
               "category_id": int(c["category_id"][row]), "comparable_group_id": 10**12 + product_id,
               "title": title, "attribute_count": 6, "image_count": 4, "price": float(c["price"][row]),
               "list_price": float(c["list_price"][row]), "stock": 50, "subsidy": False, "banned": False,
               "listed_at": int(engine.snapshot.as_of_ms)}
    listing.update(changes)
    return listing


def _search(engine: Engine, query: str, size: int = 10, user: int | None = None):
    snap = engine.snapshot
    return engine.rank("search", RankRequest(surface="search", page_size=size, now_ms=snap.as_of_ms, hour=12,
                                             user_id=user, query=query, explain=True, seed=3))


def _search_recall(engine: Engine):
    return next(r.search for r in engine.recall if r.search is not None)


def _homepage_recall(engine: Engine):
    return next(r.homepage for r in engine.recall if r.homepage is not None)


def _new_id(engine: Engine, offset: int = 1000) -> int:
    return int(engine.snapshot.products.ids.max()) + offset


def test_a_new_product_is_found_by_search_through_its_title_words(engine):
    pid = _new_id(engine)
    assert not _search(engine, "quizzlebrook", size=50).cards or \
        pid not in [c["product_id"] for c in _search(engine, "quizzlebrook", size=50).cards]
    assert add_products(engine, [_like(engine, 3, pid, "Quizzlebrook electric kettle 1.7L")]) == 1
    page = _search(engine, "quizzlebrook", size=50)
    card = next(c for c in page.cards if c["product_id"] == pid)
    assert "lexical" in card["sources"]
    assert card["title"] == "Quizzlebrook electric kettle 1.7L"
    assert card["store_name"] and card["store_name"] == engine.catalog.store_names_of(
        np.array([card["store_id"]]))[0]
    assert np.isfinite(card["score"]) and np.isfinite(card["price_advantage"])
    lexical_ids, _ = _search_recall(engine).lexical("quizzlebrook", 10)
    assert lexical_ids.tolist() == [pid]  # the only product holding the word


def test_a_new_product_is_in_the_dense_index_and_a_query_only_the_dense_side_matches_finds_it(engine):
    brands = [n for n in engine.snapshot.text.brand_names.values() if n.isascii() and len(n) >= 5][:3]
    title = " ".join(brands) + " kettle"  # catalog words no product holds all of
    pid = _new_id(engine)
    add_products(engine, [_like(engine, 5, pid, title)])
    search = _search_recall(engine)
    assert pid in search.dense(title, 10)[0]
    # every word misspelt (a middle letter dropped, so it is inside no catalog word either):
    # no BM25 token in common, the n-grams still close
    query = " ".join(w[:len(w) // 2] + w[len(w) // 2 + 1:] for w in title.lower().split()[:3])
    assert len(search.lexical(query, 100)[0]) == 0
    assert pid in search.dense(query, 20)[0]
    sim = search.dense_similarity([query], np.zeros(1, np.int64), np.array([pid]))
    assert np.isfinite(sim[0]) and sim[0] > 0.3


def test_a_new_product_ranks_with_finite_listing_features(engine):
    pid = _new_id(engine)
    add_products(engine, [_like(engine, 7, pid, "Vellumtide cotton towel set")])
    snap = engine.snapshot
    user = int(snap.users.ids[0])
    page = engine.rank("rerank", RankRequest(surface="search", page_size=5, now_ms=snap.as_of_ms, hour=12,
                                             user_id=user, query="vellumtide towel",
                                             candidates=np.array([pid, 1, 2], np.int64), explain=True))
    card = next(c for c in page.cards if c["product_id"] == pid)
    assert np.isfinite(card["score"])
    names = engine.bundle.model.feature_names
    result = engine.pipelines["rerank"].run(RankRequest(
        surface="search", page_size=5, now_ms=snap.as_of_ms, hour=12, user_id=user, query="vellumtide towel",
        candidates=np.array([pid], np.int64)))
    values = dict(zip(names, result.cards.features[0], strict=True))
    listing = ["price", "price_advantage", "product_score", "ctr", "cvr", "store_experience_score",
               "lexical_score", "term_overlap"]
    for name in [n for n in listing if n in values]:
        assert np.isfinite(values[name]), name
    assert values.get("lexical_score", 1.0) > 0
    row = snap.products.rows(np.array([pid]))[0]
    for column, array in snap.products.columns.items():  # outside_price: NaN is "none observed",
        # creator_reputation: NaN is "no creator features it" (a listing just sent has none)
        assert np.isfinite(float(array[row])) or column in ("outside_price", "creator_reputation"), column


def test_a_known_product_is_refused_and_nothing_is_appended(engine):
    snap = engine.snapshot
    n = len(snap.products.ids)
    known = int(snap.products.ids[10])
    assert add_products(engine, [_like(engine, 10, known, "Already here")]) == 0
    pid = _new_id(engine)
    rows = [_like(engine, 1, pid, "Gorvelline jar"), _like(engine, 1, pid, "Gorvelline jar again")]
    switch = sys.getswitchinterval()
    assert add_products(engine, rows) == 1  # a batch naming one id twice adds it once
    assert sys.getswitchinterval() == switch  # lowered for the batch only
    assert add_products(engine, [_like(engine, 1, pid, "Gorvelline jar")]) == 0
    assert len(engine.snapshot.products.ids) == n + 1
    assert engine.catalog.titles_of(np.array([known]))[0] != "Already here"
    assert add_products(engine, []) == 0
    with pytest.raises(ValueError, match="price"):
        add_products(engine, [{"product_id": pid + 1, "title": "no price"}])


def test_pages_of_queries_the_new_products_do_not_match_do_not_move(small_models):
    # 50 candidates per source, so that most queries recall none of the new products from a
    # small catalog (with 500 of 2,000, a quarter of all products is every query's dense recall)
    engine = Engine.load(small_models / "latest", load_settings(["recall.candidates=50"]))
    snap = engine.snapshot
    words = [w for w in snap.text.vocabulary if len(w) >= 3 and w.isascii() and w.isalpha()][:12]
    users = [None, int(snap.users.ids[1])]
    before = {(q, u): _search(engine, q, size=20, user=u) for q in words for u in users}
    n_before = len(snap.products.ids)
    bm25_before = snap.text.product_bm25.copy()
    start = _new_id(engine)
    rows = [_like(engine, i, start + i, f"Plimbrastic Wuzzleform {i}") for i in range(10)]
    assert add_products(engine, rows) == 10
    new_ids = set(range(start, start + 10))
    search, k = _search_recall(engine), engine.settings.recall.candidates
    unmatched = 0
    for (q, u), old in before.items():
        new = _search(engine, q, size=20, user=u)
        recalled = set(search.lexical(q, k)[0].tolist()) | set(search.dense(q, k)[0].tolist())
        if recalled & new_ids:  # a new product recalled moves the others' recall ranks (features)
            continue
        unmatched += 1  # neither side recalls a new product: the very same page
        assert [c["product_id"] for c in new.cards] == [c["product_id"] for c in old.cards], q
        assert [c["score"] for c in new.cards] == [c["score"] for c in old.cards], q
    assert unmatched >= 8
    # the existing products' BM25 feature rows are the bundle's, to the bit
    after = engine.snapshot.text.product_bm25[:n_before]
    assert (after[:, : bm25_before.shape[1]] != bm25_before).nnz == 0
    engine.close()


def test_new_products_are_eligible_for_the_sources_that_need_no_history(engine):
    snap = engine.snapshot
    home = _homepage_recall(engine)
    c = snap.products.columns
    row = int(np.flatnonzero((c["stock"] > 0) & (c["banned"] == 0))[0])
    leaf = int(snap.leaf_of_category(np.array([int(c["category_id"][row])]))[0])
    pid, sub, gone = _new_id(engine), _new_id(engine) + 1, _new_id(engine) + 2
    add_products(engine, [_like(engine, row, pid, "Brimblewood oak shelf"),
                          _like(engine, row, sub, "Brimblewood subsidised shelf", subsidy=True),
                          _like(engine, row, gone, "Brimblewood sold out shelf", stock=0)])
    ids = home.product_ids
    in_leaf = set(ids[home.a["by_leaf"][home.a["leaf_ptr"][leaf]:home.a["leaf_ptr"][leaf + 1]]].tolist())
    assert {pid, sub, gone} <= in_leaf  # the lists keep every product, the mask says which are live
    assert sub in set(ids[home.a["subsidy"]].tolist()) and pid not in set(ids[home.a["subsidy"]].tolist())
    everyone = {s: 100_000 for s in ("top_categories", "subsidy", "theme", "trending", "recent_categories")}
    user = int(snap.users.ids[0])
    got = home.sources(user, 12, everyone)
    assert sub in got["subsidy"][0]
    assert pid in got["trending"][0]
    assert not any(gone in ids_ for ids_, _ in got.values())  # sold out: no source hands it out
    # the leaf's merit order is kept: the existing rows' order is unchanged by the insertion
    old = [i for i in ids[home.a["by_leaf"]] if i not in (pid, sub, gone)]
    fresh = Engine.load(engine.bundle.path, load_settings([]))
    assert old == fresh.recall[0].homepage.product_ids[fresh.recall[0].homepage.a["by_leaf"]].tolist()
    fresh.close()
    # no co-interactions yet (a zero item vector): never a seed of "similar" or "personal"
    context = home.context(user, 12)
    context.recent_items = home.shopper.product_rows(np.array([pid]))
    context.recent_weights = np.ones(1, np.float32)
    sources = {s.name: s for s in home.components}
    assert len(sources["personal"].candidates(context, 10)) == 0
    assert len(sources["similar"].candidates(context, 10)) == 0


def test_an_id_below_the_highest_is_appended_and_looked_up_through_a_sorted_view(engine):
    high = _new_id(engine, 500)
    low = _new_id(engine, 100)
    add_products(engine, [_like(engine, 2, high, "Zephyrquill notebook")])
    add_products(engine, [_like(engine, 2, low, "Quorbelline notebook")])
    products = engine.snapshot.products
    assert products.ids[-2:].tolist() == [high, low]  # appended, not re-sorted: rows never move
    n = len(products.ids)
    assert products.rows(np.array([high, low, 0, 3])).tolist() == [n - 2, n - 1, 0, 3]
    for query, pid in (("zephyrquill", high), ("quorbelline", low)):
        assert pid in [c["product_id"] for c in _search(engine, query, size=50).cards]
        assert _search_recall(engine).lexical(query, 5)[0].tolist() == [pid]
    assert engine.catalog.titles_of(np.array([low, high])).tolist() == ["Quorbelline notebook",
                                                                         "Zephyrquill notebook"]
    search = _search_recall(engine)
    sims = search.dense_similarity(["notebook"], np.zeros(2, np.int64), np.array([low, high]))
    assert np.isfinite(sims).all()


def test_searches_in_threads_while_adding_never_error(engine):
    errors: list[BaseException] = []
    stop = threading.Event()
    start = _new_id(engine)

    def searching(query: str) -> None:
        while not stop.is_set():
            try:
                _search(engine, query, size=10)
                engine.rank("homepage", RankRequest(surface="homepage", page_size=10,
                                                    now_ms=engine.snapshot.as_of_ms, hour=20,
                                                    user_id=int(engine.snapshot.users.ids[0])))
            except BaseException as exc:  # any failure is the finding
                errors.append(exc)
                return

    threads = [threading.Thread(target=searching, args=(q,)) for q in ("kettle", "Frobnitz", "大米")]
    for t in threads:
        t.start()
    added = 0
    for batch in range(8):  # ascending and descending ids, in batches
        ids = [start + 1000 - batch * 50 - i for i in range(25)]
        rows = [_like(engine, i, pid, f"Frobnitz gadget {pid}") for i, pid in enumerate(ids)]
        added += add_products(engine, rows)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors[:3]
    assert added == 200
    assert len(_search_recall(engine).lexical("frobnitz", 500)[0]) == 200


def test_row_lookup_and_entity_table_find_rows_of_unsorted_ids():
    lookup = RowLookup(np.array([10, 20, 30, 15]))
    assert not lookup.ascending
    assert lookup.rows(np.array([15, 30, 11, 10])).tolist() == [3, 2, -1, 0]
    table = EntityTable(np.array([0, 1, 2, 3, 9, 5]), {"x": np.arange(6.0)})
    assert table.rows(np.array([5, 9, 4, 0])).tolist() == [5, 4, -1, 0]


def test_a_pair_lookup_never_aliases_a_row_appended_beyond_its_stride():
    pairs = PairSet.build(np.array([1]), np.array([2]), np.array([3.0]), stride=4)
    # user 0 x product row 6 would be key 6 = user 1 x row 2, which was bought
    assert pairs.lookup(np.array([0, 1]), np.array([6, 2])).tolist() == [0.0, 3.0]


def test_the_search_index_statistics_are_read_back_from_its_weights():
    texts = ["red kettle", "red red kettle steel 1.7l", "手机 手机壳 黑色", "a b c d e f g h", "kettle"]
    index = BM25Index.build(texts, np.arange(5))
    stats = search_statistics(index, 1.2, 0.75)
    from ranking.recall.tokenize import tokenize
    assert stats.avgdl == pytest.approx(np.mean([len(tokenize(t)) for t in texts]), rel=1e-4)
    assert stats.documents == 5


def test_insertion_keeps_the_existing_order_and_places_by_key():
    key = np.array([0.9, 0.5, 0.7, 0.1, 0.6, 0.8])
    assert insert_ranked(np.array([0, 2, 1, 3]), key, np.array([4, 5])).tolist() == [0, 5, 2, 4, 1, 3]
    leaf = np.array([0, 0, 1, 1, 1, 0])
    order, ptr = insert_by_leaf(np.array([0, 1, 2, 3]), np.array([0, 2, 4]), leaf, key, np.array([5, 4]))
    assert order.tolist() == [0, 5, 1, 2, 4, 3] and ptr.tolist() == [0, 3, 6]


def test_an_hnsw_index_takes_new_products_by_clone_and_add_without_training():
    from ranking.live.new_product_search import append_search, encode
    from ranking.recall.search import SearchRecall
    from ranking.recall.tokenize import tokenize

    texts = [f"{w} kettle steel {i}" for i, w in enumerate(["red", "blue", "green", "black", "white"] * 8)]
    search = SearchRecall.from_texts(texts, np.arange(len(texts)), dim=8, exact_max=10)
    assert search.index.kind == "hnsw"
    before = search.index
    stats = search_statistics(search.bm25, 1.2, 0.75)
    new_text = "purple teapot porcelain"
    added = append_search(search, [tokenize(new_text)], encode(search, [new_text]), np.array([1000]), stats)
    added.publish(search)
    assert before.index.ntotal == len(texts)  # the index requests were reading is untouched
    assert search.index.index.ntotal == len(texts) + 1 and search.index.kind == "hnsw"
    assert search.lexical("teapot", 3)[0].tolist() == [1000]
    assert 1000 in search.dense(new_text, 3)[0]


def test_the_spelling_corrector_after_a_batch_equals_one_built_afresh_over_the_grown_vocabulary(engine):
    from ranking.recall.search import speller_of

    c = engine.snapshot.products.columns
    start = _new_id(engine)
    rows = [_like(engine, i, start + i, f"Quixotel sprocketrix {i % 4} zebrawood lantern") for i in range(6)]
    assert add_products(engine, rows) == 6
    search = _search_recall(engine)
    served = search.speller
    fresh, _ = speller_of(search.bm25, engine.settings.recall)
    assert served.grown and "sprocketrix" in served.words and "quixotel" in served.words
    assert served.words == fresh.words
    assert np.array_equal(served._keys, fresh._keys) and np.array_equal(served._owners, fresh._owners)
    assert served.pinyin._readings == fresh.pinyin._readings
    assert search.correct("sprocketrx zebrawod").text == fresh.correct("sprocketrx zebrawod").text == \
        "sprocketrix zebrawood"
    assert len(c["price"]) < len(engine.snapshot.products.columns["price"])


def test_bm25_rows_appended_by_column_equal_the_matrix_through_rows_and_back():
    import scipy.sparse as sp

    from ranking.live.new_product_search import append_csc_rows
    from ranking.live.new_product_text import stack_rows

    rng = np.random.default_rng(5)
    for trial in range(40):
        n, width, k = int(rng.integers(0, 40)), int(rng.integers(1, 30)), int(rng.integers(0, 8))
        grown = width + int(rng.integers(0, 5))  # words first seen in the new rows: columns of their own
        old = sp.random(n, width, density=rng.uniform(0, 0.5), format="csc", dtype=np.float32,
                        random_state=trial)
        new = sp.random(k, grown, density=rng.uniform(0, 0.6), format="csr", dtype=np.float64,
                        random_state=trial + 100)
        if trial % 5 == 0 and old.nnz > 1:  # a column's rows out of order: the general path
            old.indices[old.indptr[0]:old.indptr[-1]] = old.indices[old.indptr[0]:old.indptr[-1]][::-1].copy()
            old.has_sorted_indices = False
        got, want = append_csc_rows(old, new), stack_rows(old.tocsr(), new).tocsc()
        assert got.shape == want.shape and got.format == "csc"
        for name in ("data", "indices", "indptr"):
            a, b = getattr(got, name), getattr(want, name)
            assert a.dtype == b.dtype and np.array_equal(a, b), (trial, name)


def _leaf_median_alone(values: np.ndarray, leaf: np.ndarray, new_leaf: np.ndarray,
                       mask: np.ndarray) -> np.ndarray:
    """The reference: one column grouped alone, its NaN dropped first (the listing's code before
    the columns were grouped once)."""
    import pandas as pd

    ok = mask & ~np.isnan(values)
    by_leaf = pd.Series(values[ok]).groupby(leaf[ok]).median()
    overall = float(np.median(values[ok])) if ok.any() else np.nan
    return pd.Series(new_leaf).map(by_leaf).fillna(overall).to_numpy(np.float64)


def test_the_listing_history_medians_grouped_once_equal_each_column_grouped_alone():
    from ranking.live.new_product_listing import leaf_median, leaf_medians

    rng = np.random.default_rng(9)
    n = 400
    leaf = rng.integers(0, 12, n)
    columns = {f"c{i}": rng.normal(size=n) for i in range(4)}
    columns["c1"][rng.random(n) < 0.3] = np.nan  # some NaN: each column's own rows
    columns["c2"][leaf == 3] = np.nan  # a leaf with no value in one column: the overall median
    columns["c3"][:] = np.nan  # no value at all: NaN
    new_leaf = np.r_[rng.integers(0, 12, 50), [99, -1]]  # leaves the catalog lacks: the overall median
    for mask in (rng.random(n) < 0.5, np.ones(n, bool), np.zeros(n, bool), leaf == 5):
        got = leaf_medians(columns, leaf, new_leaf, mask)
        assert list(got) == list(columns)
        for name, values in columns.items():
            want = _leaf_median_alone(values, leaf, new_leaf, mask)
            assert got[name].dtype == want.dtype and np.array_equal(got[name], want, equal_nan=True), name
            assert np.array_equal(leaf_median(values, leaf, new_leaf, mask), want, equal_nan=True), name
    assert leaf_medians({}, leaf, new_leaf, np.ones(n, bool)) == {}
