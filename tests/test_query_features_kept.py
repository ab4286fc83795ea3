"""A search's query features: one gather for the BM25 and token dots, nothing read off search,
and the query's analysis kept per catalog text (ranking.features.relevance_features, inputs)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from ranking.features import Requests, build_inputs, feature_names
from ranking.features.inputs import analyse_queries, query_batch
from ranking.features.snapshot import CatalogText, FeatureSnapshot
from ranking.features.sparse_rows import hit_dots, row_dots, row_hits, stores_alike
from ranking.settings import Settings
from training.data.mall_data import load_mall
from training.learning.dataset import DAY_MS, mall_day_zero_ms
from training.learning.snapshot_builder import build_snapshot


@pytest.fixture(scope="module")
def snapshot(small_mall: Path) -> FeatureSnapshot:
    mall = load_mall(small_mall)
    return build_snapshot(mall, mall_day_zero_ms(mall, "Asia/Shanghai") + 20 * DAY_MS, Settings())


def _own(snapshot: FeatureSnapshot, text: CatalogText | None = None) -> FeatureSnapshot:
    """A snapshot sharing the fixture's tables (with ``text``), so a test may swap them."""
    s = snapshot
    return FeatureSnapshot(s.as_of_ms, s.products, s.stores, s.users, s.leaf_ids, s.leaf_theme_slot,
                           s.user_leaf_slot, s.user_leaf, s.bought, s.bought_leaf, s.store_visits,
                           s.text if text is None else text, s.meta)


def _search(snapshot: FeatureSnapshot, query: str | None, n: int = 300):
    ids = np.random.default_rng(3).choice(snapshot.products.ids, n)
    req = Requests(np.array([-1]), [query], np.array([10]), np.array([0 if query else 1]))
    return build_inputs(snapshot, ids, np.zeros(n, dtype=np.int64), req)


def _relevance():
    """The relevance definitions, imported after the registry loaded every module in schema order
    (imported first, they would register first and reorder the schema for the whole session)."""
    feature_names()
    from ranking.features import relevance_features

    return relevance_features


def _query(snapshot: FeatureSnapshot) -> str:
    """Three catalog words."""
    return " ".join([w for w in snapshot.text.vocabulary if len(w) >= 2][:3])


def test_one_gather_serves_the_bm25_and_token_dots_to_the_bit(snapshot: FeatureSnapshot, monkeypatch) -> None:
    rel = _relevance()
    x = _search(snapshot, _query(snapshot))
    gathers = []
    monkeypatch.setattr(rel, "row_hits", lambda *a: gathers.append(a[0]) or row_hits(*a))
    lexical, terms = rel.lexical_score(x), rel.term_overlap(x)
    assert len(gathers) == 1  # term_overlap reads lexical_score's gather
    q, text = x.queries.tokens, snapshot.text
    cols, vals = q.indices[q.indptr[0]:q.indptr[1]], q.data[q.indptr[0]:q.indptr[1]]
    want = row_dots(text.product_bm25, x.product_row, cols, vals)  # its own gather, as before
    assert (want > 0).any()
    assert np.array_equal(lexical.view(np.int64), want.view(np.int64))
    shared = row_dots(text.product_tokens, x.product_row, cols, vals)
    assert np.array_equal(terms, shared / max(x.queries.n_tokens[0], 1))


def test_a_matrix_stored_otherwise_gets_its_own_gather() -> None:
    rng = np.random.default_rng(1)
    tokens = sp.random(40, 30, density=0.3, format="csr", dtype=np.float32, random_state=rng)
    tokens.data[:] = 1
    weights = tokens.copy()
    weights.data = rng.random(len(weights.data)).astype(np.float32)
    rows, cols, vals = rng.integers(0, 40, 25), np.array([2, 7, 11, 19]), np.ones(4)
    hits = row_hits(tokens, rows, cols)
    assert stores_alike(hits, tokens, weights)
    assert np.array_equal(hit_dots(hits, weights.data, vals), row_dots(weights, rows, cols, vals))
    edited = weights.copy()  # one gathered row stored in another order: no longer alike
    r = int(rows[0])
    a, b = edited.indptr[r], edited.indptr[r + 1]
    assert b - a > 1
    edited.indices[a:b], edited.data[a:b] = edited.indices[a:b][::-1].copy(), edited.data[a:b][::-1].copy()
    assert not stores_alike(hits, tokens, edited)


def test_off_search_the_relevance_features_read_no_text(snapshot: FeatureSnapshot) -> None:
    rel = _relevance()
    x = _search(snapshot, None)
    x.snapshot = _own(snapshot, text=None)  # any read of the catalog text would raise
    x.query_index = None  # nor the candidates' queries
    x.extra["dense_similarity"] = np.zeros(x.n)
    for f in (rel.lexical_score, rel.term_overlap, rel.char_overlap, rel.category_intent, rel.brand_match,
              rel.query_length, rel.dense_similarity):
        assert np.isnan(f(x)).all()


def test_a_query_is_analysed_once_per_catalog_text(snapshot: FeatureSnapshot) -> None:
    snap = _own(snapshot)
    query = _query(snap)
    first = query_batch(snap, [query])
    assert query_batch(snap, [query]) is first  # kept
    fresh = analyse_queries(snap, [query])
    assert (first.tokens != fresh.tokens).nnz == 0 and (first.bigrams != fresh.bigrams).nnz == 0
    np.testing.assert_array_equal(first.intent, fresh.intent)
    assert not first.intent.flags.writeable and not first.tokens.data.flags.writeable  # shared
    assert query_batch(snap, [query, "x"]) is not query_batch(snap, [query, "x"])  # training: not kept
    text = snap.text  # new words swap the text: the query is read against the new one
    snap.text = CatalogText([*text.vocabulary, "brandnewword"], text.product_tokens, text.bigram_vocabulary,
                            text.product_bigrams, text.token_leaf, text.brand_names)
    wider = query_batch(snap, [query])
    assert wider is not first and wider.tokens.shape == (1, len(text.vocabulary) + 1)
    assert query_batch(snap, [query]) is wider
    again = pickle.loads(pickle.dumps(snap))  # training ships snapshots to its workers: kept as empty
    assert query_batch(again, [query]) is not wider and len(again.derived["query_batches"][1]) == 1


def test_the_live_provider_reads_leaves_kept_per_products_table(snapshot: FeatureSnapshot,
                                                                monkeypatch) -> None:
    from ranking.features.snapshot import EntityTable
    from ranking.pipeline import live_features
    from ranking.pipeline.candidates import CandidateSet, RankRequest
    from ranking.settings import LiveSettings

    snap = _own(snapshot)
    provider = live_features.LiveFeatures(snap, LiveSettings())
    seen = []
    monkeypatch.setattr(live_features, "live_feature_columns", lambda *a: seen.append(a[3]) or {})
    builds = []
    kept = live_features.LEAF_CATEGORIES
    monkeypatch.setattr(kept, "build", lambda *a, build=kept.build: builds.append(1) or build(*a))
    monkeypatch.setattr(kept, "_memo", ())  # nothing kept yet
    ids = np.r_[snap.products.ids[:50], 10**12]  # the last unknown
    request = RankRequest("homepage", 20, 0, 10)
    provider(request, CandidateSet(ids))
    provider(request, CandidateSet(ids[::-1]))
    assert len(builds) == 1  # once per products table, not per request
    np.testing.assert_array_equal(seen[-1], provider.leaves(ids[::-1]))
    np.testing.assert_array_equal(seen[0], provider.leaves(ids))
    assert seen[0][-1] == -1
    products = snap.products  # a catalog change swaps the table: its leaves are read anew
    moved = products.columns["category_id"].copy()
    assert (moved[:50] != moved[60]).any()
    moved[:50] = moved[60]
    snap.products = EntityTable(products.ids, {**products.columns, "category_id": moved})
    provider(request, CandidateSet(ids))
    assert len(builds) == 2
    np.testing.assert_array_equal(seen[-1], provider.leaves(ids))
    assert (seen[-1][:50] == moved[60]).all()


def test_the_batch_path_keeps_float64_dots(snapshot: FeatureSnapshot, monkeypatch) -> None:
    rel = _relevance()
    x = _search(snapshot, _query(snapshot))
    monkeypatch.setattr(rel, "FEW_QUERIES", 0)  # the training batches' sparse product
    lexical, terms = rel.lexical_score(x), rel.term_overlap(x)
    q, text = x.queries.tokens, snapshot.text
    for got, p in ((lexical, text.product_bm25), (terms, text.product_tokens)):
        want = np.asarray(q[x.query_index].multiply(p[x.product_row]).sum(axis=1)).ravel().astype(np.float64)
        if p is text.product_tokens:
            want = want / max(x.queries.n_tokens[0], 1)
        assert got.dtype == np.float64
        assert np.array_equal(got, want)


@pytest.mark.parametrize("interleaved", [False, True])
def test_a_page_s_matrix_is_written_by_rows_to_the_same_bits(snapshot: FeatureSnapshot, monkeypatch,
                                                            interleaved: bool) -> None:
    from ranking.features import compute_features, registry
    from ranking.features.per_product import per_product_names, product_feature_table

    names = feature_names()
    if interleaved:  # a per-product feature between two others: the gather writes scattered rows
        gathered = per_product_names(names)
        names = [n for n in names if n != gathered[3]]
        names.insert(names.index("lexical_score") + 1, gathered[3])
    snap = _own(snapshot)
    x = _search(snap, _query(snap))
    x.per_product = product_feature_table(snap, names)
    by_rows = compute_features(x, names)  # a page: under SMALL_BATCH
    monkeypatch.setattr(registry, "SMALL_BATCH", 0)  # as a training batch: by columns
    x.shared.clear()
    by_columns = compute_features(x, names)
    assert by_rows.flags.c_contiguous and by_rows.dtype == np.float32 and by_rows.shape == (x.n, len(names))
    assert np.array_equal(by_rows.view(np.int32), by_columns.view(np.int32))
    assert np.isfinite(by_rows).any(axis=0).sum() > 40
    monkeypatch.setattr(registry, "SMALL_BATCH", 4096)
    x.shared.clear()
    as_written = compute_features(x, names, any_order=True)  # the pipeline's: the rows as written
    assert as_written.flags.f_contiguous and not as_written.flags.c_contiguous
    assert np.array_equal(as_written.view(np.int32), by_rows.view(np.int32))
    monkeypatch.setattr(registry, "SMALL_BATCH", 0)
    assert compute_features(x, names, any_order=True).flags.c_contiguous  # a training batch: C order


def test_the_pipeline_s_page_matrix_is_its_rows_as_written_and_scores_alike(snapshot: FeatureSnapshot
                                                                            ) -> None:
    from ranking.compiled_trees import _float64_rows
    from ranking.features import compute_features

    snap = _own(snapshot)
    x = _search(snap, _query(snap))
    as_written = compute_features(x, any_order=True)
    rows = _float64_rows(*as_written.shape)[0]  # the model's copy: one pass transposes and widens
    np.copyto(rows, as_written, casting="unsafe")
    x.shared.clear()
    want = compute_features(x).astype(np.float64)
    assert not as_written.flags.c_contiguous
    assert np.array_equal(rows, want, equal_nan=True) and rows.flags.c_contiguous


def _brands_named_as_before(x) -> np.ndarray:
    """``brand_match`` as it was: each (query, candidate brand) pair's name tested in the query."""
    from ranking.recall.tokenize import fold

    out = np.full(x.n, np.nan)
    ok = (x.query_index >= 0) & (x.product_row >= 0)
    brand = x.snapshot.products.take("brand_id", x.product_row, missing=-1).astype(np.int64)
    names = x.snapshot.text.brand_search_names()
    texts = [fold(t) for t in x.queries.texts]
    out[ok] = [float(b in names and names[b] in texts[q])
               for q, b in zip(x.query_index[ok].tolist(), brand[ok].tolist(), strict=True)]
    return out



def test_a_kept_query_s_brands_are_found_once_per_catalog_brand_names(snapshot: FeatureSnapshot,
                                                                     monkeypatch) -> None:
    rel = _relevance()
    snap = _own(snapshot)
    brand = int(snap.products.columns["brand_id"][0])
    query = f"{snap.text.brand_names[brand]} {_query(snap)}"
    calls = []
    found = CatalogText.brands_named_in
    monkeypatch.setattr(CatalogText, "brands_named_in", lambda self, t: calls.append(t) or found(self, t))
    first = rel.brand_match(_search(snap, query))
    again = _search(snap, query)  # the same query: its kept batch
    assert np.array_equal(rel.brand_match(again), first, equal_nan=True) and len(calls) == 1
    assert np.array_equal(first, _brands_named_as_before(again), equal_nan=True) and (first == 1).any()
    t = snap.text  # the catalog renames the brand (a new text object, as ranking.live swaps it)
    snap.text = CatalogText(t.vocabulary, t.product_tokens, t.bigram_vocabulary, t.product_bigrams,
                            t.token_leaf, {**t.brand_names, brand: "zzzz unnamed"}, t.tokenizer_version)
    renamed = rel.brand_match(again)  # the batch made before the swap: found again in the new names
    assert len(calls) == 2 and np.array_equal(renamed, _brands_named_as_before(again), equal_nan=True)
    assert not np.array_equal(renamed, first, equal_nan=True)

def test_the_brands_a_text_names_are_found_by_their_openings(snapshot: FeatureSnapshot) -> None:
    text = snapshot.text
    names = {1: "acme", 2: "a", 3: "", 4: "big co", 5: "国", 6: "国美", 7: "acme pro", 8: "cm"}
    made = CatalogText(text.vocabulary, text.product_tokens, text.bigram_vocabulary, text.product_bigrams,
                       text.token_leaf, names)
    rng = np.random.default_rng(5)
    pieces = [*names.values(), "x", " ", "ac", "me", "国美电器", "pro"]
    texts = ["", "acme", "acm", "big  co", "中国", "c m"] + [
        "".join(rng.choice(pieces, size=rng.integers(1, 5))) for _ in range(300)]
    searched = made.brand_search_names()
    for t in texts:
        assert made.brands_named_in(t) == sorted(b for b, n in searched.items() if n in t), t
    assert made.brands_named_in("acme pro") == [1, 2, 3, 7, 8]
    catalog = list(text.brand_search_names().items())
    for b, n in catalog[:50]:
        assert b in text.brands_named_in(f"red {n} shoes")


@pytest.mark.parametrize("queries", [1, 6])
def test_brand_match_equals_each_pair_s_name_test(snapshot: FeatureSnapshot, queries: int) -> None:
    rel = _relevance()
    names = list(snapshot.text.brand_search_names().values())
    texts = [f"{names[i * 7]} {_query(snapshot)}" for i in range(queries)]  # each names a brand
    n = 400
    rng = np.random.default_rng(queries)
    ids = rng.choice(snapshot.products.ids, n)
    brands = snapshot.products.take("brand_id", snapshot.products.rows(ids))
    named = snapshot.products.ids[np.isin(snapshot.products.columns["brand_id"],
                                          list(snapshot.text.brand_search_names())[:36:7])]
    ids[::5] = rng.choice(named, len(ids[::5]))  # candidates of the named brands
    ids[3] = 10**12  # an unknown product
    req = Requests(np.full(queries + 1, -1), [*texts, None], np.full(queries + 1, 10),
                   np.r_[np.zeros(queries), 1])
    x = build_inputs(snapshot, ids, rng.integers(0, queries + 1, n), req)
    got, want = rel.brand_match(x), _brands_named_as_before(x)
    assert np.array_equal(got, want, equal_nan=True)
    assert (got == 1).sum() >= 5 and (got == 0).sum() > 100 and np.isnan(got).sum() > 1
    assert len(np.unique(brands)) > 100


def test_each_column_is_its_feature_s_values_cast_to_float32_with_defaults_filled(
        snapshot: FeatureSnapshot, monkeypatch) -> None:
    from ranking.features import compute_features, features, registry

    snap = _own(snapshot)
    x = _search(snap, _query(snap))
    x.user_row[:] = np.flatnonzero(snap.users.ids >= 0)[3]  # a known shopper: personal values
    x.extra["dense_similarity"] = np.linspace(0.1, 0.9, x.n)  # float64 values that round in float32
    got = compute_features(x)
    for j, f in enumerate(features()):
        x.shared.clear()
        want = np.asarray(f.compute(x)).astype(np.float32)
        if not np.isnan(f.default):
            want[np.isnan(want)] = np.float32(f.default)
        assert np.array_equal(got[:, j].view(np.int32), want.view(np.int32)), f.name
    assert not np.array_equal(got[:, feature_names().index("dense_similarity")], x.extra["dense_similarity"])
    chosen = registry._REGISTRY["hour"]  # a feature of the wrong shape is refused, not broadcast
    monkeypatch.setitem(registry._REGISTRY, "hour", registry.Feature(
        chosen.name, chosen.group, chosen.meaning, lambda x: np.float32(3.0), chosen.default))
    with pytest.raises(ValueError, match="hour"):
        compute_features(x, ["hour"])
