"""Candidate recall: tokenisation, BM25, dense FAISS, fusion, homepage sources, persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ranking.bounded_memo import BoundedMemo
from ranking.contracts.frames import load_frames
from ranking.recall.fusion import reciprocal_rank_fusion
from ranking.recall.lexical import BM25Index
from ranking.recall.search import SearchRecall
from ranking.recall.tokenize import char_bigrams, tokenize
from ranking.recall.vector_index import VectorIndex


def test_tokenize_handles_chinese_and_latin_in_one_text():
    toks = tokenize("金龙鱼 食用油 5L Cordless Drills，ＡＢＣ")
    assert {"金", "金龙", "龙鱼", "食用", "用油"} <= set(toks)
    assert {"cordless", "drill", "5", "l", "abc"} <= set(toks)  # plural stemmed, full-width folded
    assert char_bigrams("Ab 食用") == ["ab", "b食", "食用"]


def test_bm25_puts_the_matching_title_first_and_ignores_unknown_words():
    texts = ["金龙鱼 食用油 5L", "cordless drill 18v", "食用盐 500g", "drill bits set"]
    index = BM25Index.build(texts, np.array([10, 11, 12, 13]))
    ids, scores = index.search("食用油", 3)
    assert ids[0] == 10 and scores[0] > scores[1]
    ids, _ = index.search("cordless drills", 2)
    assert list(ids) == [11, 13]
    assert len(index.search("zzzz", 5)[0]) == 0


def test_rrf_rewards_agreement():
    ids, scores = reciprocal_rank_fusion([np.array([1, 2, 3]), np.array([3, 4])], k=60)
    assert ids[0] == 3 and set(ids) == {1, 2, 3, 4}
    assert scores[0] == pytest.approx(1 / 63 + 1 / 61)  # rank 3 in one list, rank 1 in the other


def test_hnsw_is_chosen_above_the_exact_limit_and_its_recall_is_measured(tmp_path):
    rng = np.random.default_rng(0)
    v = rng.normal(size=(3000, 16)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    index = VectorIndex.build(v, np.arange(3000) + 100, exact_max=1000)
    assert index.kind == "hnsw"
    assert index.recall_vs_exact(v[:50], 10) > 0.9
    index.save(tmp_path)
    again = VectorIndex.load(tmp_path)
    _, a = index.search(v[:5], 5)
    _, b = again.search(v[:5], 5)
    assert (a == b).all() and a[0, 0] == 100


@pytest.fixture(scope="module")
def catalog(small_mall: Path):
    return load_frames(small_mall, ["products", "brands", "categories", "queries"])


@pytest.fixture(scope="module")
def search(catalog):
    return SearchRecall.build(catalog["products"], catalog["brands"], catalog["categories"], dim=32)


def test_search_recall_finds_the_queried_category_in_both_languages(search, catalog, small_mall):
    truth = pd.read_parquet(small_mall / "truth" / "queries.parquet").set_index("query_id")
    products = catalog["products"].set_index("product_id")
    queries = catalog["queries"].merge(truth, left_on="query_id", right_index=True).head(60)
    hits = {"lexical": [], "dense": [], "hybrid": []}
    for _, q in queries.iterrows():
        for name in hits:
            ids, _ = getattr(search, name)(q.text, 20)
            leaf = products.category_id.reindex(ids).to_numpy()
            hits[name].append(np.mean(leaf == q.category_id) if len(ids) else 0.0)
    means = {k: float(np.mean(v)) for k, v in hits.items()}
    assert means["lexical"] > 0.5 and means["dense"] > 0.4 and means["hybrid"] > 0.5, means


def test_dense_similarity_is_the_same_for_one_request_or_a_batch(search, catalog):
    ids = catalog["products"].product_id.to_numpy()[:30]
    one = search.dense_similarity(["大米"], np.zeros(30, np.int64), ids)
    batch = search.dense_similarity([None, "大米"], np.r_[np.zeros(5, np.int64), np.ones(30, np.int64)],
                                    np.r_[ids[:5], ids])
    assert np.isnan(batch[:5]).all()
    np.testing.assert_allclose(batch[5:], one, rtol=1e-6)


def test_a_query_with_no_searchable_words_recalls_nothing_and_has_no_similarity(search, catalog):
    """Punctuation, symbols or emoji only: BM25 has no token to match, and dense recall used
    to search with the vector the encoder still made of those characters (arbitrary products)."""
    from ranking.recall.tokenize import searchable

    blank = ["!!!", "???", "🙂🙂", "¿¡ — … ·", "\u200b", " "]
    assert not any(searchable(q) for q in blank)
    assert all(searchable(q) for q in ("a", "5", "大", "ＡＢＣ!", "café", "5L?"))
    for q in blank:
        for name in ("lexical", "dense", "hybrid"):
            assert len(getattr(search, name)(q, 20)[0]) == 0, (q, name)
    ids, _ = search.dense_batch(["大米", "!!!"], 10)
    assert (ids[1] == -1).all() and np.array_equal(search.dense("大米", 10)[0], ids[0])
    products = catalog["products"].product_id.to_numpy()[:10]
    sims = search.dense_similarity(["!!!", "大米"], np.repeat([0, 1], 5), np.r_[products[:5], products[:5]])
    assert np.isnan(sims[:5]).all() and np.isfinite(sims[5:]).all()


def test_search_recall_saves_and_loads_identically(search, tmp_path):
    search.save(tmp_path)
    again = SearchRecall.load(tmp_path)
    for q in ("大米", "cordless drill", "面霜 50g"):
        assert list(again.hybrid(q, 30)[0]) == list(search.hybrid(q, 30)[0])
    assert search.manifest["recall@100_vs_exact"] == 1.0 and search.manifest["index"] == "exact"


def test_homepage_sources_keep_provenance_and_respect_quotas(small_models):
    from ranking.recall.homepage import SOURCES, HomepageRecall

    homepage = HomepageRecall.load(small_models / "latest" / "recall" / "homepage")
    users = homepage.user_ids[:40]
    seen = set()
    for u in users:
        got = homepage.sources(int(u), 20)
        for name, (ids, _) in got.items():
            assert name in SOURCES and len(ids) <= homepage.quotas[name]
            assert len(np.unique(ids)) == len(ids), f"{name} spends its quota on a repeat"
            seen.add(name)
        if "similar" in got:  # the seeds' neighbours, not the seeds; the quota filled
            recent = homepage.context(int(u), 20).recent_items
            assert not np.isin(got["similar"][0], homepage.product_ids[recent[:3]]).any()
            assert len(got["similar"][0]) == homepage.quotas["similar"]
    assert {"personal", "similar", "trending", "top_categories", "theme"} <= seen
    assert len(homepage.merged(int(users[0]), 9, 200)) == len(set(homepage.merged(int(users[0]), 9, 200)))
    ids, scores = homepage.similar(int(homepage.product_ids[0]), 10)
    assert len(ids) == 10 and homepage.product_ids[0] not in ids and (np.diff(scores) <= 1e-6).all()


def test_homepage_recall_beats_popularity_on_the_next_days_clicks(small_mall):
    """Fit on the log before the last 5 days; recall@200 of each user's clicks after it."""
    from ranking.recall.homepage import HomepageRecall
    from ranking.settings import Settings
    from training.data.mall_data import load_mall
    from training.learning.dataset import DAY_MS
    from training.learning.snapshot_builder import build_snapshot

    mall = load_mall(small_mall)
    cut = mall.last_ms - 5 * DAY_MS
    settings = Settings()
    snapshot = build_snapshot(mall, cut, settings)
    homepage = HomepageRecall.fit(mall.tables, cut, snapshot, settings.recall.homepage_quotas)
    clicks = mall["clicks"]
    future = clicks[clicks.timestamp >= cut]
    past_users = set(clicks[clicks.timestamp < cut].user_id)
    users = [u for u in future.user_id.value_counts().index if u in past_users][:150]
    popular = set(homepage.product_ids[homepage.a["trending"][:200]].tolist())
    ours, pop = [], []
    for u in users:
        clicked = set(future[future.user_id == u].product_id)
        ours.append(len(clicked & set(homepage.merged(int(u), 20, 200).tolist())) / len(clicked))
        pop.append(len(clicked & popular) / len(clicked))
    # measured on the small mall: 0.61 vs 0.44 (2k products: popularity alone covers a lot)
    assert np.mean(ours) > 1.2 * np.mean(pop), (np.mean(ours), np.mean(pop))


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_homepage_recall_fits_a_log_of_one_user_without_warnings(small_mall):
    """One user (degenerate but valid data): the item SVD has a single component. The fit
    used to warn 'invalid value encountered in divide' (TruncatedSVD's explained-variance
    ratio, 0 / 0 over one row); any RuntimeWarning fails this test."""
    from ranking.recall.homepage import HomepageRecall
    from ranking.settings import Settings
    from training.data.mall_data import MallTables, load_mall
    from training.learning.snapshot_builder import build_snapshot

    mall = load_mall(small_mall)
    user = int(mall["impressions"].user_id.mode()[0])
    tables = {name: (t[t.user_id == user] if "user_id" in t.columns else t)
              for name, t in mall.tables.items()}
    orders = set(tables["orders"].order_id)
    tables |= {name: tables[name][tables[name].order_id.isin(orders)]
               for name in ("shipments", "returns", "service_tickets")}
    one = MallTables(mall.data_dir, tables)
    settings = Settings()
    snapshot = build_snapshot(one, one.last_ms, settings)
    homepage = HomepageRecall.fit(one.tables, one.last_ms, snapshot, settings.recall.homepage_quotas)
    assert homepage.user_ids.tolist() == [user] and homepage.a["item_vectors"].shape[1] == 1
    mine = homepage.sources(user, 20)
    assert len(mine["recently_viewed"][0]) and np.isfinite(homepage.a["item_vectors"]).all()
    assert "recently_viewed" not in homepage.sources(None, 20) and len(homepage.merged(None, 20, 50))
    ids, scores = homepage.similar(int(homepage.product_ids[0]), 5)
    assert len(ids) == 5 and np.isfinite(scores).all()


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize("titles", [["cordless drill"], ["cordless drill"] * 4],
                         ids=["one-title", "identical-titles"])
def test_search_recall_indexes_a_degenerate_catalog_without_warnings(titles):
    """A catalog of one title, or of identical titles, has no variance across rows: the dense
    encoder's SVD used to warn 'invalid value encountered in divide' (TruncatedSVD's
    explained-variance ratio, 0 / 0). Recall must still find every product."""
    ids = np.arange(100, 100 + len(titles))
    recall = SearchRecall.from_texts(titles, ids, dim=8)
    for search in (recall.lexical, recall.dense, recall.hybrid):
        found, scores = search("cordless drill", 10)
        assert sorted(found.tolist()) == ids.tolist() and np.isfinite(scores).all()


def test_the_shared_truncated_svd_gives_sklearns_components() -> None:
    """``ranking.recall.svd.truncated_svd`` replaced ``TruncatedSVD`` in the dense encoder and the
    homepage item vectors so that bundles stay the same: same components, signs included."""
    import scipy.sparse as sp
    from sklearn.decomposition import TruncatedSVD

    from ranking.recall.svd import truncated_svd

    x = sp.random(400, 300, density=0.05, format="csr", random_state=3, dtype=np.float32)
    _, _, ours = truncated_svd(x, 16, seed=7)
    theirs = TruncatedSVD(n_components=16, random_state=7).fit(x).components_
    np.testing.assert_array_equal(ours, theirs)


def test_the_encoder_gives_the_scipy_expressions_vectors_bit_for_bit(search):
    import scipy.sparse as sp

    enc = search.encoder
    texts = ["大米", "café crème 500g", "", "!!!", "iPhone 15 Pro Max 256GB 深空黑色", "大米 大米 rice"]

    def scipy_tfidf(batch: list[str]) -> sp.csr_matrix:  # the expression _tfidf replaced
        counts = enc.hasher.transform(batch).astype(np.float32)
        x = counts.multiply(enc.idf[None, :]).tocsr()
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
        return sp.diags(1.0 / np.maximum(norms, 1e-12)) @ x

    for batch in (texts, *[[t] for t in texts]):
        want = np.asarray(scipy_tfidf(batch) @ enc.components.T)
        got = np.asarray(enc._tfidf(batch) @ enc.components.T)
        assert np.array_equal(want.view(np.uint32), got.view(np.uint32))


def test_one_text_is_encoded_as_the_batch_path_encodes_it_bit_for_bit(search, catalog):
    """encode([text]) takes its own small-array path (TextEncoder._encode_one); every vector is the
    hasher's, _tfidf's and scipy's product's, to the bit, for titles, queries and odd texts."""
    enc = search.encoder
    rng = np.random.default_rng(5)
    titles = catalog["products"].title.astype(str).tolist()
    texts = [titles[i] for i in rng.choice(len(titles), size=min(400, len(titles)), replace=False)]
    texts += catalog["queries"].text.astype(str).tolist()[:200]
    texts += ["", " ", "!!!", "🙂", "a", "大米 大米 rice", "café CAFE Café ＡＢＣ", "x" * 500, "食用油 " * 40]
    assert any(len(enc.hasher.build_analyzer()(t)) > 200 for t in texts)  # long rows too
    for text in texts:
        want = np.asarray(enc._tfidf([text]) @ enc.components.T)
        want = want / np.maximum(np.linalg.norm(want, axis=1, keepdims=True), 1e-12)
        got = enc.encode([text])
        assert got.shape == (1, enc.dim) and got.dtype == np.float32
        assert np.array_equal(want.astype(np.float32).view(np.uint32), got.view(np.uint32)), text
    batch = enc.encode(texts[:50])  # many texts: the CSR path, row for row the same
    assert all(np.array_equal(batch[i:i + 1].view(np.uint32), enc.encode([t]).view(np.uint32))
               for i, t in enumerate(texts[:50]))


def test_fit_hashes_the_catalog_once_and_its_vectors_are_encodes(monkeypatch):
    from ranking.recall import dense
    from ranking.recall.dense import TextEncoder

    texts = ["大米 5kg 东北", "café crème 500g", "", "iPhone 15 深空黑色", "大米 rice", "bolt M6"] * 7
    hashed = []
    make = dense._hasher

    def counting_hasher():
        h = make()
        transform = h.transform
        h.transform = lambda batch: hashed.append(len(batch)) or transform(batch)
        return h

    monkeypatch.setattr(dense, "_hasher", counting_hasher)
    enc, vectors = TextEncoder.fit(texts, dim=4)
    assert hashed == [len(texts)]  # the catalog hashed once (it was three times: ~half of fit)
    assert np.array_equal(vectors.view(np.uint32), enc.encode(texts).view(np.uint32))


def test_a_requests_query_is_encoded_once_for_the_dense_source_and_the_feature(search, catalog, monkeypatch):
    calls = []
    encode = search.encoder.encode
    search.encoder.encode = lambda texts: calls.append(list(texts)) or encode(texts)
    monkeypatch.setattr(search, "_kept_vectors", BoundedMemo(4))  # not earlier tests' queries
    try:
        memo: dict = {}
        ids, _ = search.dense("大米", 20, memo)
        sims = search.dense_similarity(["大米"], np.zeros(len(ids), np.int64), ids, memo)
        assert calls == [["大米"]]
        assert np.array_equal(sims, search.dense_similarity(["大米"], np.zeros(len(ids), np.int64), ids))
        assert np.array_equal(ids, search.dense("大米", 20)[0])
    finally:
        search.encoder.encode = encode


def test_bm25_scores_are_scipys_column_sums_bit_for_bit(search):
    bm25 = search.bm25
    vocabulary = sorted(bm25.vocabulary)
    rng = np.random.default_rng(3)
    queries = ["大米", "", "!!!"] + [" ".join(rng.choice(vocabulary, size=n)) for n in (1, 2, 3, 5, 8) * 20]
    for query in queries:
        cols = bm25.query_tokens(query)
        want = (np.asarray(bm25.weights[:, cols].sum(axis=1)).ravel() if len(cols)
                else np.zeros(len(bm25.product_ids), np.float32))
        got = bm25.scores(query)
        assert got.dtype == want.dtype and np.array_equal(got.view(np.uint32), want.view(np.uint32))


def test_a_query_is_encoded_once_across_requests_as_a_fresh_encode_gives_it(search, monkeypatch):
    calls = []
    encode = search.encoder.encode
    monkeypatch.setattr(search.encoder, "encode", lambda texts: calls.append(list(texts)) or encode(texts))
    monkeypatch.setattr(search, "_kept_vectors", BoundedMemo(2))  # bounded: the oldest text leaves
    first = search.query_vectors(["大米 面粉"], {})
    again = search.query_vectors(["大米 面粉"], {})  # another request, its own memo
    assert calls == [["大米 面粉"]] and again is first
    assert np.array_equal(first.view(np.uint32), encode(["大米 面粉"]).view(np.uint32))
    assert not first.flags.writeable  # a caller cannot change the next request's vector
    for text in ("油", "米", "面"):
        search.query_vectors([text], {})
    assert "大米 面粉" not in search._kept_vectors and "油" not in search._kept_vectors
    assert "米" in search._kept_vectors and "面" in search._kept_vectors
    assert len(search.dense_only()._kept_vectors) == 0  # the light copy keeps its own
