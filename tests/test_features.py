"""The feature registry and snapshot: one declared schema, one path, no peeking at the future."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ranking.features import (
    GROUPS,
    Requests,
    build_inputs,
    compute_features,
    feature_names,
    schema,
    schema_differences,
    schema_hash,
)
from ranking.features.snapshot import FeatureSnapshot
from ranking.settings import Settings
from training.data.mall_data import MallTables, load_mall
from training.learning.dataset import DAY_MS, RankingFrame, build_ranking_frame, mall_day_zero_ms
from training.learning.snapshot_builder import CatalogCache, build_snapshot


@pytest.fixture(scope="module")
def mall(small_mall: Path) -> MallTables:
    return load_mall(small_mall)


@pytest.fixture(scope="module")
def full_frame(mall: MallTables) -> RankingFrame:
    """The small mall's whole training frame at the default settings, built once for the module's
    tests that read it (~10 s a build)."""
    return build_ranking_frame(mall, Settings(), progress=False)


@pytest.fixture(scope="module")
def snapshot(mall: MallTables) -> FeatureSnapshot:
    zero = mall_day_zero_ms(mall, "Asia/Shanghai")
    return build_snapshot(mall, zero + 20 * DAY_MS, Settings())


def test_schema_declares_every_feature_once_with_group_and_meaning() -> None:
    rows = schema()
    names = [r["name"] for r in rows]
    assert len(names) == len(set(names)) >= 30
    assert {r["group"] for r in rows} == set(GROUPS)
    assert all(len(r["meaning"]) > 10 for r in rows)
    assert schema_hash() == schema_hash(rows)


def test_schema_differences_name_what_changed() -> None:
    rows = schema()
    assert schema_differences(rows) == []
    assert "lacks" in schema_differences(rows[:-1])[0]
    assert "no longer has" in " ".join(schema_differences([*rows, {**rows[0], "name": "gone"}]))
    swapped = [rows[1], rows[0], *rows[2:]]
    assert "different order" in schema_differences(swapped)[0]
    changed = [{**rows[0], "default": 3.0}, *rows[1:]]
    assert "changed its group, dtype or default" in schema_differences(changed)[0]


def _requests(snapshot: FeatureSnapshot, query: str | None, surface: int) -> Requests:
    user = int(snapshot.users.ids[0])
    return Requests(np.array([user]), [query], np.array([9]), np.array([surface]))


def test_relevance_features_exist_on_search_only(snapshot: FeatureSnapshot) -> None:
    ids = snapshot.products.ids[:50]
    req = np.zeros(len(ids), dtype=np.int64)
    col = {n: i for i, n in enumerate(feature_names())}
    search = compute_features(build_inputs(snapshot, ids, req, _requests(snapshot, "rice 大米", 0)))
    home = compute_features(build_inputs(snapshot, ids, req, _requests(snapshot, None, 1)))
    assert search.shape == (50, len(col)) and search.dtype == np.float32
    assert not np.isnan(search[:, col["term_overlap"]]).any()
    assert np.isnan(home[:, col["term_overlap"]]).all()
    assert not np.isnan(home[:, col["product_score"]]).any()


def test_category_intent_and_brand_match_follow_the_query(mall: MallTables, snapshot) -> None:
    products = mall["products"]
    cats = mall["categories"].set_index("category_id")
    brands = mall["brands"].set_index("brand_id")
    rice_leaf = int(cats.index[cats.name_en == "rice"][0])
    rice = products[products.category_id == rice_leaf].iloc[0]
    other = products[products.category_id != rice_leaf].iloc[0]
    ids = np.array([rice.product_id, other.product_id])
    query = f"{brands.name[rice.brand_id]} 大米"
    x = compute_features(build_inputs(snapshot, ids, np.zeros(2, np.int64), _requests(snapshot, query, 0)))
    col = {n: i for i, n in enumerate(feature_names())}
    assert x[0, col["category_intent"]] > 0.5 > x[1, col["category_intent"]]
    assert x[0, col["brand_match"]] == 1.0
    assert x[0, col["lexical_score"]] > x[1, col["lexical_score"]]


def test_unknown_products_and_users_get_defaults_not_errors(snapshot: FeatureSnapshot) -> None:
    ids = np.array([10**12, int(snapshot.products.ids[0])])
    req = Requests(np.array([-1]), ["rice"], np.array([20]), np.array([0]))
    x = compute_features(build_inputs(snapshot, ids, np.zeros(2, np.int64), req))
    col = {n: i for i, n in enumerate(feature_names())}
    assert np.isnan(x[0, col["product_score"]])
    assert x[0, col["subsidy"]] == 0.0 and x[1, col["bought_before"]] == 0.0
    assert np.isnan(x[1, col["category_affinity"]])


def test_inputs_column_reads_what_the_table_take_gives(snapshot: FeatureSnapshot) -> None:
    # the batch's row masks are made once (FeatureInputs.rows_of); every read must still equal
    # EntityTable.take, NaN for an unknown product, store or user
    known_user = int(snapshot.users.ids[0])
    ids = np.array([int(snapshot.products.ids[1]), 10**12, int(snapshot.products.ids[0])])
    req = Requests(np.array([known_user, -1]), [None, None], np.array([9, 9]), np.array([1, 1]))
    x = build_inputs(snapshot, ids, np.array([0, 1, 0]), req)
    for table, rows in (("products", x.product_row), ("stores", x.store_row), ("users", x.user_row)):
        entity = getattr(snapshot, table)
        for column in entity.columns:
            np.testing.assert_array_equal(x.column(table, column), entity.take(column, rows))
    assert np.isnan(x.column("products", "price")[1]) and np.isnan(x.column("users", "price_level")[1])
    assert x.rows_of("products") is x.rows_of("products")  # made once per batch


def test_snapshot_round_trips_through_disk(snapshot: FeatureSnapshot, tmp_path: Path) -> None:
    snapshot.save(tmp_path / "snap")
    loaded = FeatureSnapshot.load(tmp_path / "snap")
    ids = snapshot.products.ids[::7]
    req = Requests(np.array([int(snapshot.users.ids[3])]), ["牛奶 milk"], np.array([14]),
                   np.array([0]))
    rows = np.zeros(len(ids), np.int64)
    a = compute_features(build_inputs(snapshot, ids, rows, req))
    b = compute_features(build_inputs(loaded, ids, rows, req))
    np.testing.assert_array_equal(a, b)


def test_no_event_at_or_after_the_snapshot_moment_changes_it(mall: MallTables) -> None:
    zero = mall_day_zero_ms(mall, "Asia/Shanghai")
    as_of = zero + 15 * DAY_MS
    settings = Settings()
    catalog = CatalogCache(mall)
    full = build_snapshot(mall, as_of, settings, catalog)
    past = {}
    for name, frame in mall.tables.items():
        for col in ("timestamp", "opened_at"):
            if col in frame.columns and name not in ("stores", "products"):
                frame = frame[frame[col] < as_of]
        if name == "shipments":
            frame = frame[frame.shipped_at < as_of]
        past[name] = frame
    truncated = build_snapshot(MallTables(mall.data_dir, past), as_of, settings, catalog)
    ids = full.products.ids
    users = full.users.ids[:40]
    req = Requests(users, ["rice"] * 20 + [None] * 20, np.full(40, 10), np.r_[np.zeros(20), np.ones(20)])
    rows = np.repeat(np.arange(40), 25)
    cand = np.resize(ids, len(rows))
    np.testing.assert_array_equal(
        compute_features(build_inputs(full, cand, rows, req)),
        compute_features(build_inputs(truncated, cand, rows, req)),
    )


def test_training_frame_is_point_in_time_and_grouped_by_request(full_frame: RankingFrame) -> None:
    frame = full_frame
    assert frame.day.min() >= Settings().training.warmup_days
    assert (np.diff(frame.request_id) >= 0).all()
    sizes = frame.group_sizes()
    assert sizes.sum() == len(frame) and sizes.max() <= 20
    assert set(np.unique(frame.grade)) <= {0, 1, 2, 3}


def test_request_sample_keeps_whole_requests_and_their_features(mall: MallTables,
                                                                full_frame: RankingFrame) -> None:
    full = full_frame
    settings = Settings(training={"request_sample": 0.25})
    part = build_ranking_frame(mall, settings, progress=False)
    requests = np.unique(full.request_id)
    kept = np.unique(part.request_id)
    assert 0.2 < len(kept) / len(requests) < 0.3
    # every card of a kept request, with the very features the full build gives it
    in_full = np.isin(full.request_id, kept)
    assert in_full.sum() == len(part)
    np.testing.assert_array_equal(full.features[in_full], part.features)
    np.testing.assert_array_equal(full.grade[in_full], part.grade)


def test_docs_features_md_is_generated_from_the_registry() -> None:
    from ranking.features.docs import render

    doc = Path(__file__).resolve().parents[1] / "docs" / "features.md"
    assert doc.read_text() == render(), "run: python -m ranking.features.docs > docs/features.md"


def test_bm25_weights_follow_the_documented_formula() -> None:
    import scipy.sparse as sp

    from ranking.features.bm25 import BM25_B, BM25_K1, bm25_matrix

    rng = np.random.default_rng(3)
    dense = (rng.random((40, 15)) < 0.2).astype(np.float32)
    dense[0] = 0  # a product with no tokens
    weights = bm25_matrix(sp.csr_matrix(dense)).toarray()
    n, df, length = dense.shape[0], dense.sum(axis=0), dense.sum(axis=1)
    for p, t in zip(*np.nonzero(dense), strict=True):
        idf = np.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
        expected = idf * (BM25_K1 + 1) / (1 + BM25_K1 * (1 - BM25_B + BM25_B * length[p] / length.mean()))
        assert weights[p, t] == pytest.approx(expected, rel=1e-6)
    assert (weights[dense == 0] == 0).all()


@pytest.mark.parametrize("n_queries", [1, 3, 12])
def test_relevance_dot_products_agree_between_serving_and_training_paths(mall: MallTables, n_queries,
                                                                         monkeypatch) -> None:
    from ranking.features import relevance_features as rel

    snap = build_snapshot(mall, mall.last_ms, Settings())
    words = [w for w in snap.text.vocabulary if len(w) >= 2][:n_queries * 2]
    texts = [" ".join(words[2 * i:2 * i + 2]) for i in range(n_queries)]
    rng = np.random.default_rng(0)
    rows = np.sort(rng.integers(0, n_queries, 300))
    cand = rng.choice(snap.products.ids, 300)
    req = Requests(np.resize(snap.users.ids, n_queries), texts, np.full(n_queries, 10),
                   np.zeros(n_queries))
    x = build_inputs(snap, cand, rows, req)
    got = {}
    for few in (0, 100):  # 0: always the batch path; 100: always query by query
        monkeypatch.setattr(rel, "FEW_QUERIES", few)
        got[few] = np.c_[rel.lexical_score(x), rel.term_overlap(x), rel.char_overlap(x)]
    assert np.isfinite(got[0]).all() and (got[0] > 0).any()
    np.testing.assert_allclose(got[0], got[100], rtol=1e-5, atol=1e-6)


def test_pair_lookup_of_one_user_equals_the_lookup_through_every_pair() -> None:
    from ranking.features.snapshot import PairSet

    rng = np.random.default_rng(4)
    a, b = rng.integers(0, 40, 2_000), rng.integers(0, 300, 2_000)
    pairs = PairSet.build(a, b, rng.random(2_000).astype(np.float32), stride=300)
    wanted = rng.integers(-2, 305, 400)  # unknown rows and rows past the stride included
    for user in (-1, 0, 7, 39, 45):
        one = pairs.lookup(np.full(len(wanted), user), wanted)  # a served request: one user
        many = pairs.lookup(np.r_[np.full(len(wanted), user), user + 1], np.r_[wanted, 0])[:-1]  # two users
        assert one.dtype == many.dtype == np.float32
        np.testing.assert_array_equal(one, many)
    assert pairs.lookup(np.full(3, 5), b[a == 5][:3]).min() > 0  # its own pairs are found


@pytest.mark.parametrize("stride", [300, 20_000, (1 << 20) + 5])  # leaves or stores, products: a take
def test_one_user_s_pairs_read_by_a_take_equal_the_binary_search(stride: int, monkeypatch) -> None:
    from ranking.features import snapshot as snapshots
    from ranking.features.snapshot import PairSet

    rng = np.random.default_rng(stride)
    a, b = rng.integers(0, 40, 3_000), rng.integers(0, stride, 3_000)
    pairs = PairSet.build(a, b, rng.random(3_000).astype(np.float32), stride=stride)
    wanted = np.r_[rng.integers(-3, stride + 5, 400), -1, stride, stride + 1, 0, stride - 1]
    for user in (-1, 0, 7, 39, 45):
        taken = pairs.lookup_one(user, wanted)
        monkeypatch.setattr(snapshots, "DENSE_STRIDE", 0)  # always the binary search
        searched = pairs.lookup_one(user, wanted)
        monkeypatch.undo()
        assert taken.dtype == searched.dtype == np.float32 and taken.shape == wanted.shape
        assert np.array_equal(taken.view(np.int32), searched.view(np.int32))
    assert (stride <= snapshots.DENSE_STRIDE) == (stride < 1 << 20)
    assert (pairs.lookup_one(7, b[a == 7]) > 0).all()


def test_one_user_s_pairs_leave_the_thread_s_scratch_zeroed(monkeypatch) -> None:
    """The take reads a per-thread scratch the pairs are written into and zeroed again: reads of
    pair sets of several strides on one thread (a longer scratch first), and on threads at once,
    each give what the binary search gives, and the scratch is all zeros after each read and after
    a read that raised."""
    from concurrent.futures import ThreadPoolExecutor

    from ranking.features import snapshot as snapshots
    from ranking.features.snapshot import PairSet

    rng = np.random.default_rng(4)
    sets = [PairSet.build(rng.integers(0, 30, 2_000), rng.integers(0, stride, 2_000),
                          rng.random(2_000).astype(np.float32) + 0.5, stride=stride)
            for stride in (50_000, 300, 7_000)]

    def searched(pairs: PairSet, user: int, wanted: np.ndarray) -> np.ndarray:
        mine = pairs.keys[(pairs.keys >= user * pairs.stride) & (pairs.keys < (user + 1) * pairs.stride)]
        at = np.searchsorted(pairs.keys, user * pairs.stride + wanted)
        hit = np.isin(user * pairs.stride + wanted, mine) & (wanted >= 0) & (wanted < pairs.stride)
        return np.where(hit, pairs.values[np.minimum(at, len(pairs.keys) - 1)], 0).astype(np.float32)

    def reads(seed: int) -> bool:
        local = np.random.default_rng(seed)
        for _ in range(40):
            pairs = sets[int(local.integers(len(sets)))]
            user, wanted = int(local.integers(0, 30)), local.integers(-2, 50_010, 300)
            if not np.array_equal(pairs.lookup_one(user, wanted), searched(pairs, user, wanted)):
                return False
            if snapshots._zeroed_scratch(1).any():
                return False
        return True

    assert reads(0)
    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(reads, range(1, 9)))

    class Raising(np.ndarray):
        def take(self, *args, **kwargs):
            raise RuntimeError("the take failed")

    real = snapshots._zeroed_scratch
    monkeypatch.setattr(snapshots, "_zeroed_scratch", lambda size: real(size).view(Raising))
    with pytest.raises(RuntimeError):
        sets[0].lookup_one(3, np.arange(10))  # the take raises after the pairs were written
    monkeypatch.undo()
    assert not snapshots._zeroed_scratch(1).any()


def test_a_served_page_s_personal_features_read_its_one_user_as_the_batch_does(
        snapshot: FeatureSnapshot) -> None:
    import dataclasses

    from ranking.features import personal_features as personal

    known = [int(u) for u in snapshot.users.ids[:400] if len(snapshot.bought_leaf.lookup(
        np.full(1, snapshot.users.rows(np.array([u]))[0]), np.zeros(1, np.int64)))][:60:15]
    ids = np.r_[snapshot.products.ids[::7][:300], 10**12]  # an unknown product: no leaf, no store
    for user, hour in [(known[0], 3), (known[1], 9), (known[2], 15), (-1, 20), (10**12, 20)]:
        req = Requests(np.array([user]), [None], np.array([hour]), np.array([1]))
        x = build_inputs(snapshot, ids, np.zeros(len(ids), np.int64), req)
        batch = dataclasses.replace(x, one_request=False)  # read per candidate, as a training batch
        assert x.one_request and not build_inputs(snapshot, ids, np.zeros(len(ids), np.int64), Requests(
            np.array([user, user]), [None, None], np.array([hour, hour]), np.array([1, 1]))).one_request
        for f in (personal.category_affinity_now, personal.category_affinity, personal.bought_before,
                  personal.bought_category_before, personal.store_affinity):
            got, want = f(x), f(batch)
            assert got.dtype == want.dtype and np.array_equal(got, want, equal_nan=True), f.__name__
    x = build_inputs(snapshot, ids, np.zeros(len(ids), np.int64),
                     Requests(np.array([known[0]]), [None], np.array([9]), np.array([1])))
    assert np.isfinite(personal.category_affinity(x)).sum() > 200
    assert (personal.store_affinity(x) > 0).any() and (personal.bought_category_before(x) > 0).any()



def test_each_row_s_slot_is_the_slot_of_its_request_s_hour(snapshot: FeatureSnapshot) -> None:
    from ranking.features.inputs import slot_of_hour

    hours = np.arange(24)
    req = np.random.default_rng(2).integers(0, 24, 500)  # slots found per request, then per row
    x = build_inputs(snapshot, np.resize(snapshot.products.ids, 500), req,
                     Requests(np.full(24, -1), [None] * 24, hours, np.ones(24)))
    assert x.slot.dtype == np.int8 and np.array_equal(x.slot, slot_of_hour(hours[req]))
    assert set(x.slot.tolist()) == {0, 1, 2}

def test_query_matrices_are_the_canonical_csr_scipy_makes_from_pairs() -> None:
    import scipy.sparse as sp

    from ranking.features.inputs import _binary_rows

    rng = np.random.default_rng(3)
    for _ in range(100):
        n_queries, rows, cols = int(rng.integers(0, 6)), [], []
        for i in range(n_queries):
            known = rng.choice(50, size=int(rng.integers(0, 8)), replace=False).tolist()
            rows, cols = rows + [i] * len(known), cols + known
        made = _binary_rows(rows, cols, (n_queries, 50))
        want = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_queries, 50))
        assert made.dtype == want.dtype and made.shape == want.shape
        for part in ("indptr", "indices", "data"):
            np.testing.assert_array_equal(getattr(made, part), getattr(want, part))


def test_one_query_row_is_the_matrix_scipy_makes_and_each_width_gets_its_own() -> None:
    """A single text's rows (a served search's query) are a copy of a kept empty matrix with their own
    arrays: the same arrays, dtypes, shape and canonical flags as scipy's, a wider vocabulary
    (new products) its own shape, and the kept matrix never written."""
    import scipy.sparse as sp

    from ranking.features import inputs

    rng = np.random.default_rng(4)
    for width in (50, 50, 51, 7, 50, 2408):
        known = rng.choice(width, size=int(rng.integers(0, min(width, 9))), replace=False).tolist()
        made = inputs._one_binary_row(known, width)
        want = sp.csr_matrix((np.ones(len(known), np.float32), ([0] * len(known), known)), shape=(1, width))
        assert made.shape == want.shape == (1, width) and made.dtype == want.dtype
        assert made.has_canonical_format and made.has_sorted_indices
        for part in ("indptr", "indices", "data"):
            np.testing.assert_array_equal(getattr(made, part), getattr(want, part))
            assert getattr(made, part).dtype == getattr(inputs._binary_rows([0] * len(known), known,
                                                                            (1, width)), part).dtype
        assert inputs._ONE_ROW[width].nnz == 0 and inputs._ONE_ROW[width].shape == (1, width)
        np.testing.assert_array_equal((made @ np.arange(width, dtype=np.float32)), [float(sum(known))])


def test_one_query_is_analysed_to_the_bits_of_its_row_in_a_batch(snapshot: FeatureSnapshot) -> None:
    """A served search's one text (its intent rows summed by one reduction, its sparse rows a
    copy of the kept empty one) gets the bits of its row in a batch of texts (``np.add.at`` and
    scipy's construction): tokens, bigrams, their counts and the category intent."""
    from ranking.features.inputs import analyse_queries

    words = [w for w in snapshot.text.vocabulary if len(w) >= 2][:300]
    rng = np.random.default_rng(8)
    texts = [" ".join(rng.choice(words, int(rng.integers(1, 5))).tolist()) for _ in range(120)]
    texts += ["", "zzzz qqqq", "大米", "rice 大米 rice", "!!!"]  # nothing known, repeats, one CJK word
    for n, text in enumerate(texts):
        one = analyse_queries(snapshot, [text])
        batch = analyse_queries(snapshot, [texts[n - 1], text])
        assert one.intent.dtype == np.float32 and one.intent.shape == (1, batch.intent.shape[1])
        assert one.intent.tobytes() == batch.intent[1:].tobytes()
        assert one.n_tokens.tobytes() == batch.n_tokens[1:].tobytes()
        assert one.n_bigrams.tobytes() == batch.n_bigrams[1:].tobytes()
        for part in ("tokens", "bigrams"):
            mine, theirs = getattr(one, part), getattr(batch, part)[1]
            assert mine.shape == theirs.shape and mine.dtype == theirs.dtype
            for array in ("indptr", "indices", "data"):
                assert getattr(mine, array).tolist() == getattr(theirs, array).tolist()
                assert getattr(mine, array).dtype == getattr(theirs, array).dtype
    assert any(analyse_queries(snapshot, [t]).intent.any() for t in texts)  # not all zero


def test_the_schema_order_does_not_depend_on_which_definition_module_is_imported_first():
    """Importing a definition module directly (relevance_features here) before the registry loaded
    the others put its features first: a bundle trained so would be refused by a service, and in
    one test session it changed the small bundle's model and so its pages."""
    import subprocess
    import sys

    def names(first_import: str) -> list[str]:
        code = (f"import {first_import}\nfrom ranking.features.registry import feature_names\n"
                "print(','.join(feature_names()))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        return out.stdout.strip().split(",")

    usual = names("ranking.features.registry")
    assert names("ranking.features.relevance_features") == usual
    assert names("ranking.features.live_features") == usual
    assert usual[0] == "product_score" and len(usual) == len(set(usual))
