"""The live state facade: logged rows in, a shopper view out; bounded, folding, rebuildable.

Every test runs against both backends (the ``live_backend`` fixture of conftest.py): the
embedded :class:`LiveState` and :class:`RedisLiveState` on a private redis-server."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from ranking.live import LiveState
from ranking.live.batch import LiveInputError
from ranking.settings import LiveSettings

T = 1_700_000_000_000
MIN = 60_000


def _click(t: int, product: int, user: int | None = 1, session: str | None = None) -> dict:
    return {"request_id": t, "timestamp": T + t, "user_id": user, "session_id": session,
            "product_id": product,
            "position": 1}


def _held_interactions(s, user: int) -> int:
    """How many interactions the backend holds for a user (not just shows)."""
    if isinstance(s, LiveState):
        row = s.shoppers.find(user, None)
        assert s.history.interactions.cols["item"].shape[1] == s.settings.recent_interactions
        return int(min(s.history.interactions.count[row], s.history.interactions.size))
    return int(s.redis.llen(f"{s.prefix}u:{user}:it"))


@pytest.fixture
def make_state(live_backend):
    def make(**kw):
        s = live_backend(LiveSettings(**kw))
        s.apply("products", [{"product_id": p, "category_id": 100 + p % 2, "store_id": 7, "brand_id": 3}
                             for p in range(1, 40)])
        s.apply("categories", [{"category_id": 100, "consumable": True},
                               {"category_id": 101, "consumable": False}])
        return s
    return make


def test_a_shopper_keeps_only_the_last_n_interactions(make_state) -> None:
    s = make_state(recent_interactions=5)
    s.apply("clicks", [_click(i * MIN, 1 + i) for i in range(12)])
    view = s.shopper_view(1)
    assert view.items.tolist() == [12, 11, 10, 9, 8]
    assert view.leaves.tolist() == [100, 101, 100, 101, 100] and set(view.stores.tolist()) == {7}
    assert _held_interactions(s, 1) == 5  # bounded where it is stored, not only in what is shown


def test_an_anonymous_session_folds_into_the_user_who_signs_in(make_state) -> None:
    s = make_state()
    s.apply("clicks", [_click(0, 3, None, "sess-a"), _click(MIN, 4, None, "sess-a")])
    assert s.shopper_view(None, "sess-a").items.tolist() == [4, 3]
    s.apply("clicks", [_click(2 * MIN, 5, user=9)])
    s.apply("clicks", [_click(3 * MIN, 6, user=9, session="sess-a")])  # signs in
    assert s.shopper_view(9).items.tolist() == [6, 5, 4, 3]  # merged by time
    s.apply("clicks", [_click(4 * MIN, 7, None, "sess-a")])  # the session is the user now
    assert s.shopper_view(9).items[0] == 7 and s.shopper_view(None, "sess-a").items[0] == 7


def test_idle_anonymous_sessions_are_forgotten_and_their_rows_reused(make_state) -> None:
    s = make_state(session_ttl_hours=1)
    s.apply("clicks", [_click(0, 3, None, "old")])
    rows = s.shoppers.rows if isinstance(s, LiveState) else 0
    s.apply("clicks", [_click(3 * 60 * MIN, 4, None, "new")])
    s.apply("clicks", [_click(5 * 60 * MIN, 5, None, "newer")])
    assert not s.shopper_view(None, "old").known
    if isinstance(s, LiveState):
        assert s.shoppers.rows <= rows + 1  # the forgotten row was reused
    else:  # the forgotten session's keys are gone, not only hidden
        assert not s.redis.exists(*[f"{s.prefix}s:old:{part}" for part in ("it", "q", "b", "ig")])
        assert s.redis.exists(f"{s.prefix}s:newer:it")


def test_bought_non_consumables_and_often_ignored_cards_are_excluded(make_state) -> None:
    s = make_state(ignore_after_impressions=2)
    order = {"order_id": 1, "request_id": 1, "user_id": 1, "store_id": 7, "price_paid": 5.0, "quantity": 1,
             "cancelled": False}
    s.apply("orders", [{**order, "timestamp": T, "product_id": p} for p in (2, 3)])
    shown = [{"request_id": r, "timestamp": T + r * MIN, "user_id": 1, "surface": "homepage",
              "query_id": None,
              "product_id": 20, "position": 1} for r in (1, 2)]
    s.apply("impressions", shown)
    view = s.shopper_view(1)
    assert view.bought.tolist() == [3, 2]
    assert view.exclude.tolist() == [3, 20]  # 2 is consumable (leaf 100); 20 was shown twice unclicked
    s.apply("clicks", [_click(3 * MIN, 20)])
    assert 20 not in s.shopper_view(1).exclude
    signals = s.product_signals(np.array([2, 20, 99]))
    assert signals["day_orders"].tolist() == [1, 0, 0] and signals["day_gmv"][0] == 5.0


def test_bad_rows_are_refused_with_a_reason(make_state) -> None:
    s = make_state()
    with pytest.raises(LiveInputError, match="names no shopper"):
        s.apply("clicks", [_click(0, 1, user=None)])
    with pytest.raises(LiveInputError, match="at most 128"):
        s.apply("clicks", [_click(0, 1, user=None, session="x" * 129)])
    with pytest.raises(LiveInputError, match="product_id is missing"):
        s.apply("clicks", [{**_click(0, 1), "product_id": None}])
    with pytest.raises(LiveInputError, match="not a shopper event"):
        s.apply("returns", [])
    assert s.applied["clicks"] == 0


def test_replaying_the_log_gives_the_state_row_by_row_applying_gives(make_state) -> None:
    rng = np.random.default_rng(3)
    rows = [_click(int(t) * 1000, int(p), int(u)) for t, p, u in
            zip(np.sort(rng.integers(0, 7200, 300)), rng.integers(1, 40, 300), rng.integers(1, 20, 300),
                strict=True)]
    one = make_state(covisit_neighbours=50)  # room for every pair: no truncation order to differ
    for row in rows:
        one.apply("clicks", [row])
    table = pa.table({k: [r[k] for r in rows] for k in ("timestamp", "user_id", "product_id")})
    two = make_state(covisit_neighbours=50)
    assert two.replay({"clicks": table}) == 300
    for user in range(1, 20):
        assert one.shopper_view(user).items.tolist() == two.shopper_view(user).items.tolist()
    learnt = 0
    for item in range(40):
        (n1, w1), (n2, w2) = (s.neighbours(np.array([item])) for s in (one, two))
        a = dict(zip(n1[0].tolist(), w1[0].tolist(), strict=True))
        b = dict(zip(n2[0].tolist(), w2[0].tolist(), strict=True))
        a.pop(-1, None), b.pop(-1, None)
        learnt += len(a)
        assert a.keys() == b.keys() and np.allclose([a[k] for k in a], [b[k] for k in a], rtol=1e-3)
    assert learnt > 40  # the shoppers' sessions taught pairs


def test_a_state_rebuilt_from_the_durable_event_log_matches_the_one_that_applied_it(make_state,
                                                                                   tmp_path) -> None:
    from ranking.event_log import EventLog, read_event_log

    clicks = [{k: v for k, v in _click(i * MIN, 1 + i % 7, user=1 + i % 3).items() if k != "session_id"}
              for i in range(30)]
    shown = [{"request_id": 99, "timestamp": T, "user_id": 1, "surface": "search", "query_id": 5,
              "product_id": p, "position": p, "variant": "default", "propensity": 1.0} for p in (30, 31)]
    log = EventLog(tmp_path, writer="w")
    log.append({"impressions": shown, "clicks": clicks})
    log.close()
    live = make_state()
    live.apply("impressions", shown)
    live.apply("clicks", clicks)
    rebuilt = make_state()
    assert rebuilt.replay(read_event_log(tmp_path).tables) == 32
    for user in (1, 2, 3):
        a, b = live.shopper_view(user), rebuilt.shopper_view(user)
        assert a.items.tolist() == b.items.tolist() and a.queries.tolist() == b.queries.tolist() == (
            [5] if user == 1 else [])
        assert a.ignored.tolist() == b.ignored.tolist()


def test_live_counters_forget_what_left_their_window(make_state) -> None:
    s = make_state()
    s.apply("impressions", [{"request_id": 1, "timestamp": T, "user_id": 1, "surface": "homepage",
                             "query_id": None, "product_id": p, "position": 1} for p in [1] * 4 + [2] * 4])
    s.apply("clicks", [_click(MIN, 1), _click(2 * MIN, 1), _click(3 * MIN, 2)])
    ids = np.array([1, 2, 3])
    now = s.product_signals(ids)
    assert now["hour_clicks"].tolist() == [2, 1, 0] and now["hour_impressions"].tolist() == [4, 4, 0]
    assert now["trend"][0] > now["trend"][1] > now["trend"][2] == 1.0
    assert now["ctr"][0] > now["ctr"][2] > now["ctr"][1] > 0  # an unseen product reads the mall's CTR
    later = s.product_signals(ids, at_ms=T + 3 * 60 * MIN)  # the hour is over, the day is not
    assert later["hour_clicks"].tolist() == [0, 0, 0] and later["day_clicks"].tolist() == [2, 1, 0]
    s.apply("clicks", [_click(26 * 60 * MIN, 3)])  # a day later: only the new click counts
    after = s.product_signals(ids)
    assert after["day_clicks"].tolist() == [0, 0, 1] and after["hour_clicks"].tolist() == [0, 0, 1]


def test_co_visitation_learns_from_a_shoppers_consecutive_items(make_state) -> None:
    s = make_state(covisit_backward_weight=0.5)
    s.apply("clicks", [_click(0, 1), _click(MIN, 2), _click(2 * MIN, 3)])
    s.apply("clicks", [_click(3 * 60 * MIN, 9)])  # hours later: outside the window, no pair
    ids, weights = s.neighbours(np.array([1, 2, 9, 77]))
    one = dict(zip(ids[0].tolist(), weights[0].tolist(), strict=True))
    assert ids[0][:2].tolist() == [2, 3] and np.isclose(one[3] / one[2], 0.5, rtol=1e-3)  # 1 / distance
    two = dict(zip(ids[1].tolist(), weights[1].tolist(), strict=True))
    assert np.isclose(two[1] / two[3], 0.5, rtol=1e-3)  # backward half as strong as forward
    assert ids[2][0] == -1 and ids[3][0] == -1 and weights[3].sum() == 0


def _page(t: int, user: int, products: list[int], query: int | None = None) -> list[dict]:
    return [{"request_id": T + t + user, "timestamp": T + t, "user_id": user, "product_id": p,
             "position": i + 1, "query_id": query} for i, p in enumerate(products)]


def test_shopper_batches_applied_shopper_by_shopper_give_the_time_ordered_views() -> None:
    """apply_shopper_batch (training's replay) out of global time order, each shopper's own
    batches in order, gives every view a time-ordered apply gives (product rows handed out in
    time order first: cards shown at once compete for the ignored slots in row order);
    counters stay untouched."""
    from ranking.live.batch import event_batch

    rng = np.random.default_rng(5)
    batches = []  # (user, table, rows) in time order; pages bigger than the 12 ignored slots
    for k in range(60):
        user, t = int(rng.integers(1, 5)), k * 90_000
        batches.append((user, "impressions", _page(t, user, rng.choice(40, 16, replace=False).tolist(),
                                                   query=k if k % 3 == 0 else None)))
        clicks = [_click(t // 1000 * 1000 + 5000 + i, int(p), user) for i, p in enumerate(rng.choice(40, 3))]
        batches.append((user, "clicks" if k % 4 else "orders",
                        [{**c, "store_id": 7, "price_paid": 2.0, "quantity": 1, "cancelled": k % 8 == 0}
                         for c in clicks]))
    ordered, by_shopper = LiveState(), LiveState()
    for _, table, rows in batches:
        ordered.apply(table, rows)
    seen = [r["product_id"] for _, _, rows in batches for r in rows]
    by_shopper.catalog.product_rows(np.array(list(dict.fromkeys(seen))))
    for user in range(1, 5):
        for who, table, rows in batches:
            if who == user:
                by_shopper.apply_shopper_batch(event_batch(table, rows))
    now = T + 60 * 90_000
    assert by_shopper.products.day.values.sum() == 0 and by_shopper.covisitation.weight.sum() == 0
    for user in range(1, 5):
        a, b = ordered.shopper_view(user, None, now), by_shopper.shopper_view(user, None, now)
        for name in ("items", "times_ms", "kinds", "queries", "bought", "ignored", "ignored_shown",
                     "exclude"):
            assert getattr(a, name).tolist() == getattr(b, name).tolist(), name
    assert len(a.ignored) > 8 and len(a.queries) and len(a.bought)  # every part was exercised


def test_shopper_views_read_many_users_each_at_its_own_time() -> None:
    s = LiveState(LiveSettings(ignore_window_hours=0.5))
    for k in range(40):
        s.apply("impressions", _page(k * 60_000, k % 3 + 1, [k % 7, k % 5 + 10, 30]))
        s.apply("clicks", [_click(k * 60_000 + 5000, k % 9, k % 3 + 1)])
    users, at = np.array([2, 9, 1, -1, 2, 3]), np.array([T + 40 * MIN, T, T + 40 * MIN, T, T + 90 * MIN, T])
    views = s.shopper_views(users, at)
    assert views.known.tolist() == [True, False, True, False, True, True]
    for i, (user, t) in enumerate(zip(users.tolist(), at.tolist(), strict=True)):
        if user < 0 or user == 9:
            assert not (views.item_of == i).any() and not (views.ignored_of == i).any()
            continue
        one = s.shopper_view(user, None, t)
        assert views.items[views.item_of == i].tolist() == one.items.tolist()
        assert views.times_ms[views.item_of == i].tolist() == one.times_ms.tolist()
        assert views.kinds[views.item_of == i].tolist() == one.kinds.tolist()
        assert views.ignored[views.ignored_of == i].tolist() == one.ignored.tolist()
        assert views.ignored_shown[views.ignored_of == i].tolist() == one.ignored_shown.tolist()
    assert (views.ignored_of == 0).any() and not (views.ignored_of == 4).any()  # 90 min later: outside


def test_id_rows_find_by_id_array_and_by_dict_alike_and_turn_the_array_off_for_a_far_id() -> None:
    from ranking.live.catalog import DENSE_FLOOR, IdRows

    rng = np.random.default_rng(5)
    ids = rng.integers(0, 5_000, 3_000)
    rows = IdRows()
    got = np.concatenate([rows.add(chunk) for chunk in np.array_split(ids, 7)])
    first = {}
    for i in ids.tolist():
        first.setdefault(i, len(first))
    assert got.tolist() == [first[i] for i in ids.tolist()] and got.dtype == np.int32
    assert rows._by_id is not None  # small ids: found with one take
    asked = np.r_[ids[:50], [-1, -(2**62), 5_000, 2**40, 4_999_999]]
    expected = [first.get(i, -1) for i in asked.tolist()]
    assert rows.find(asked).tolist() == expected and rows.find(asked).dtype == np.int32
    assert rows.find(np.zeros(0, np.int64)).tolist() == []
    rows.add(np.array([DENSE_FLOOR + 7, 3]))  # an id far past the rows: the dict from now on
    assert rows._by_id is None
    assert rows.find(asked).tolist() == expected
    assert rows.find(np.array([DENSE_FLOOR + 7])).tolist() == [len(first)]
    negative = IdRows()
    assert negative.add(np.array([-5, 2, -5])).tolist() == [0, 1, 0] and negative._by_id is None


def test_first_of_pairs_is_np_uniques_first_rows_sorted() -> None:
    """A poll's searched impressions keep one query per (shopper, request): the first row of each
    pair, as ``np.unique(..., axis=0, return_index=True)`` found it, without its void-row sort."""
    from ranking.live.state import _first_of_pairs

    rng = np.random.default_rng(11)
    for n, shoppers, requests in [(1, 1, 1), (2, 1, 1), (40, 3, 5), (2_000, 50, 95), (500, 400, 2**62)]:
        a = rng.integers(0, shoppers, n).astype(np.int64)
        b = rng.integers(-1, requests, n).astype(np.int64)
        _, first = np.unique(np.c_[a, b], axis=0, return_index=True)
        assert _first_of_pairs(a, b).tolist() == np.sort(first).tolist()


def test_shopper_rows_resolve_a_run_of_one_shopper_as_row_by_row() -> None:
    """A page's cards name one shopper in a row: resolving the run at once gives the rows, folds
    and last-seen times that resolving each row alone gives."""
    from ranking.live.shoppers import ShopperRows

    rng = np.random.default_rng(3)
    shoppers = [(int(u), None) for u in range(4)] + [(-1, f"s{k}") for k in range(3)] + [(2, "s1"), (3, "s2")]
    picks = np.repeat(rng.integers(0, len(shoppers), 60), rng.integers(1, 6, 60))
    users = np.array([shoppers[i][0] for i in picks], np.int64)
    sessions = [shoppers[i][1] for i in picks]
    times = np.arange(len(picks), dtype=np.int32)
    batch, single = ShopperRows(), ShopperRows()
    rows, folds = batch.resolve(users, sessions, times)
    one = [single.resolve(users[i:i + 1], sessions[i:i + 1], times[i:i + 1]) for i in range(len(picks))]
    assert rows.tolist() == [int(r[0]) for r, _ in one]
    assert folds == [f for _, fs in one for f in fs] and folds
    assert batch.users == single.users and batch.sessions == single.sessions
    np.testing.assert_array_equal(batch.last_seen, single.last_seen)
    np.testing.assert_array_equal(batch.anonymous, single.anonymous)


def _resolve_row_by_row(rows, user_ids: np.ndarray, session_ids: list, times: np.ndarray) -> tuple:
    """ShopperRows.resolve as it was before runs: every row resolved alone, in order."""
    out = np.empty(len(user_ids), np.int64)
    folds = []
    for i, (user, session) in enumerate(zip(user_ids.tolist(), session_ids, strict=True)):
        if user >= 0:
            row = rows.users.get(user)
            if row is None:
                row = rows.users[user] = rows._new_row(False)
            if session is not None:
                before = rows.sessions.get(session)
                if before is not None and before != row and rows.anonymous[before]:
                    folds.append((before, row))
                    rows.anonymous[before] = False
                rows.sessions[session] = row
        else:
            row = rows.sessions.get(session)
            if row is None:
                row = rows.sessions[session] = rows._new_row(True)
        out[i] = row
    np.maximum.at(rows.last_seen, out, times)
    return out, folds


def test_shopper_rows_resolve_as_the_row_by_row_loop_on_random_batches() -> None:
    """Random batches (runs of one shopper, users with and without sessions, anonymous
    sessions folding into users, equal session ids that are different strings, rows released
    and reused between batches): the rows, folds and state the plain row-by-row loop gives."""
    from ranking.live.shoppers import ShopperRows

    rng = np.random.default_rng(11)
    fast, plain = ShopperRows(), ShopperRows()
    folded = 0
    for _ in range(150):
        n = int(rng.integers(0, 80))
        users = np.where(rng.random(n) < 0.4, -1, rng.integers(0, 12, n)).astype(np.int64)
        users = np.repeat(users, rng.integers(1, 5, n))[:n] if n else users
        sessions = [None if (u >= 0 and rng.random() < 0.5) else "".join(["s", str(int(rng.integers(300)))])
                    for u in users.tolist()]
        times = rng.integers(0, 10_000, len(users)).astype(np.int32)
        got = fast.resolve(users, list(sessions), times)
        want = _resolve_row_by_row(plain, users, list(sessions), times)
        assert got[0].dtype == np.int64 and got[0].tolist() == want[0].tolist() and got[1] == want[1]
        folded += len(want[1])
        for source, _ in want[1]:
            fast.release(source)
            plain.release(source)
        assert (fast.users, fast.sessions) == (plain.users, plain.sessions)
        assert (fast._free, fast.rows) == (plain._free, plain.rows)
        np.testing.assert_array_equal(fast.anonymous, plain.anonymous)
        np.testing.assert_array_equal(fast.last_seen, plain.last_seen)
    assert folded >= 10  # the draw folds sessions (and reuses their rows)


def test_shopper_runs_begin_where_the_user_or_the_session_changes() -> None:
    from ranking.live.shoppers import shopper_runs

    users = np.array([3, 3, 3, -1, -1, 3, 3, 3], np.int64)
    sessions = [None, None, "a", "b", "".join(["b"]), "b", "b", None]
    assert shopper_runs(users, sessions).tolist() == [0, 2, 3, 5, 7]
    assert shopper_runs(users, [None] * 8).tolist() == [0, 3, 5]
    assert shopper_runs(users[:1], [None]).tolist() == [0]
    assert shopper_runs(users[:0], []).tolist() == []


def test_sessions_in_time_order_as_a_take_of_the_list() -> None:
    from ranking.live.state import _in_order

    rng = np.random.default_rng(5)
    for sessions in ([None] * 30, [None, "x"] * 15, [f"s{k}" for k in range(30)]):
        order = rng.permutation(30)
        assert _in_order(sessions, order) == [sessions[i] for i in order]
    assert _in_order([], np.zeros(0, np.int64)) == []
