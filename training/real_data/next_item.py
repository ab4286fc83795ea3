"""``shelfrank eval next-item``: does the live state predict a shopper's next interaction?

Input (:func:`read_next_item_events`): ``events`` CSVs with the header
``session_id,user_id,item_id,timestamp`` (epoch ms) and optional ``category_id,event``
(click, cart or order; default click); ``user_id`` may be empty, the session then being the
shopper, and a session seen with a user is that user from then on. Or ``taobao``: the
shared UserBehavior files (pv = click, fav and cart = cart, buy = order; seconds).

:func:`evaluate_next_item` fits the homepage recall on TRAIN (as ``eval taobao`` does:
:func:`training.real_data.taobao.build_catalog` and ``HomepageRecall.fit_catalog``) and
replays TRAIN into a :class:`ranking.live.LiveState` (told each item's category, and the
catalog's consumable categories: bought by some shopper on two days, as ``eval taobao``
defines them, so a bought item of any other category is not listed again). It then
replays TEST in time order:
for every event of a shopper with an earlier event whose item differs from that shopper's
previous item, three lists of 20 are taken *before* the event is ingested: ``popularity``
(train's most interacted items), ``frozen`` (``HomepageRecall.merged``: no test event
ingested) and ``live`` (:func:`ranking.live.recall.live_candidates` over the live state);
then the event is applied to the live state. Recall@20 (the share of events whose item is
listed) and MRR@20 are averaged over those events.
"""

from __future__ import annotations

import time
from pathlib import Path

import faiss
import numpy as np
import pandas as pd
import pyarrow as pa

from ranking.live import LiveState
from ranking.live.recall import live_candidates
from ranking.mall_clock import local_hour
from ranking.recall.homepage import HomepageRecall
from ranking.settings import Settings

K = 20
EVENTS = ("click", "cart", "order")
TABLE_OF = {"click": "clicks", "cart": "carts", "order": "orders"}
TAOBAO_EVENT = {"pv": "click", "fav": "cart", "cart": "cart", "buy": "order"}
BEHAVIOR_OF = {"click": "pv", "cart": "cart", "order": "buy"}
REQUIRED = ("session_id", "user_id", "item_id", "timestamp")
METHODS = ("popularity", "frozen", "live")


def _read_events_csv(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype={"session_id": str, "event": str})
    except (ValueError, pd.errors.EmptyDataError) as exc:
        raise ValueError(f"{path}: not a readable CSV file ({exc})") from exc
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; the header must hold {list(REQUIRED)} "
                         "(and optionally category_id, event)")
    if frame.empty:
        raise ValueError(f"{path}: no events")
    for c in ("item_id", "timestamp"):
        if frame[c].isna().any() or not pd.api.types.is_integer_dtype(frame[c]):
            raise ValueError(f"{path}: {c} must be an integer on every row")
    nobody = frame.user_id.isna() & frame.session_id.isna()
    if nobody.any():
        line = int(np.flatnonzero(nobody)[0]) + 2
        raise ValueError(f"{path}: line {line} names neither user_id nor session_id")
    if (frame.session_id.dropna().str.len() > 128).any():
        raise ValueError(f"{path}: a session_id is longer than 128 characters")
    event = frame["event"].fillna("click") if "event" in frame else pd.Series("click", index=frame.index)
    unknown = sorted(set(event) - set(EVENTS))
    if unknown:
        raise ValueError(f"{path}: unknown event(s) {unknown[:5]}; expected {list(EVENTS)}")
    category = frame["category_id"] if "category_id" in frame else pd.Series(np.nan, index=frame.index)
    return pd.DataFrame({
        "user_id": frame.user_id.fillna(-1).astype(np.int64), "session_id": frame.session_id,
        "item_id": frame.item_id.astype(np.int64), "category_id": category.fillna(-1).astype(np.int64),
        "event": event.to_numpy(), "timestamp_ms": frame.timestamp.astype(np.int64)})


def read_next_item_events(path: Path, fmt: str) -> pd.DataFrame:
    """Events as (user_id (-1 none), session_id, item_id, category_id (-1 none), event, timestamp_ms)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if fmt == "events":
        return _read_events_csv(path)
    if fmt != "taobao":
        raise ValueError(f"unknown format {fmt!r}; use events or taobao")
    from training.real_data.taobao import read_events

    tb = read_events(path)
    return pd.DataFrame({"user_id": tb.user_id, "session_id": None, "item_id": tb.item_id,
                         "category_id": tb.category_id, "event": tb.behavior.map(TAOBAO_EVENT),
                         "timestamp_ms": tb.timestamp * 1000})


def _shopper_keys(events: pd.DataFrame, sessions: dict[str, int]) -> list[str]:
    """Who each event is: its user, else the user its session was seen with before, else the session."""
    keys = []
    for user, session in zip(events.user_id.tolist(), events.session_id.tolist(), strict=True):
        has_session = isinstance(session, str)
        if user >= 0:
            if has_session:
                sessions[session] = user
            keys.append(f"u{user}")
        else:
            keys.append(f"u{sessions[session]}" if session in sessions else f"s{session}")
    return keys


def _log_tables(events: pd.DataFrame) -> dict[str, pa.Table]:
    """Events as the event log's tables (what a live state replays)."""
    out = {}
    for event, table in TABLE_OF.items():
        part = events[events.event == event]
        user = part.user_id.to_numpy()
        cols = {"timestamp": pa.array(part.timestamp_ms.to_numpy(np.int64)),
                "user_id": pa.array(user, mask=user < 0),
                "session_id": pa.array([x if isinstance(x, str) else None for x in part.session_id],
                                       pa.string()),
                "product_id": pa.array(part.item_id.to_numpy(np.int64))}
        if table == "orders":
            cols.update(price_paid=pa.array(np.zeros(len(part))),
                        quantity=pa.array(np.ones(len(part), np.int64)))
        out[table] = pa.table(cols)
    return out


def _describe_items(state: LiveState, events: pd.DataFrame) -> None:
    items = events.drop_duplicates("item_id")
    state.catalog.describe(items.item_id.to_numpy(np.int64), leaf=items.category_id.to_numpy(np.int64))


def _fit_frozen(train: pd.DataFrame, keys: list[str], settings: Settings
                ) -> tuple[HomepageRecall, dict, np.ndarray]:
    """Homepage recall fitted on TRAIN (each shopper a user id of the fit), as ``eval taobao`` fits it;
    also the consumable categories of its catalog (some shopper bought there on two days)."""
    from training.real_data.taobao import _tables, build_catalog

    codes, names = pd.factorize(pd.Series(keys))
    frame = pd.DataFrame({"user_id": codes.astype(np.int64), "item_id": train.item_id.to_numpy(),
                          "category_id": train.category_id.to_numpy(),
                          "behavior": train.event.map(BEHAVIOR_OF).to_numpy(),
                          "timestamp": train.timestamp_ms.to_numpy() // 1000})
    as_of_ms = int(train.timestamp_ms.max()) + 1
    rd = settings.real_data
    catalog = build_catalog(frame, as_of_ms, rd.taobao_half_life_days)
    recall = HomepageRecall.fit_catalog(
        _tables(frame), as_of_ms, catalog,
        settings.recall.homepage_quotas, dim=rd.taobao_item_embedding_dim,
        recent_items=rd.taobao_recent_items, half_life_days=rd.taobao_half_life_days, seed=rd.seed,
        source_weights=settings.recall.homepage_source_weights, similar_lists=False)
    categories = np.unique(frame.drop_duplicates("item_id").category_id.to_numpy(np.int64))
    return recall, {name: code for code, name in enumerate(names)}, categories[catalog.consumable_leaves]


def _score(ranked: np.ndarray, item: int) -> tuple[float, float]:
    hit = np.flatnonzero(ranked[:K] == item)
    return (1.0, 1.0 / (hit[0] + 1)) if len(hit) else (0.0, 0.0)


def evaluate_next_item(train: pd.DataFrame, test: pd.DataFrame, settings: Settings, timezone: str) -> dict:
    """Recall@20 and MRR@20 of popularity, the frozen homepage recall and live recall (module doc)."""
    started = time.perf_counter()
    train = train.sort_values("timestamp_ms", kind="stable").reset_index(drop=True)
    test = test.sort_values("timestamp_ms", kind="stable").reset_index(drop=True)
    sessions: dict[str, int] = {}
    train_keys = _shopper_keys(train, sessions)
    recall, code_of, consumable = _fit_frozen(train, train_keys, settings)
    popular = train.item_id.value_counts(sort=True).index.to_numpy(np.int64)[:200]
    state = LiveState(settings.live)
    _describe_items(state, pd.concat([train, test]))  # the catalog: which leaf each item is in
    state.apply("categories", [{"category_id": int(c), "consumable": True} for c in consumable])
    state.replay(_log_tables(train))
    fit_seconds = time.perf_counter() - started
    last_item = dict(zip(train_keys, train.item_id.tolist(), strict=True))  # each shopper's latest
    test_keys = _shopper_keys(test, sessions)
    hours = local_hour(test.timestamp_ms.to_numpy(np.int64), timezone)
    threads = faiss.omp_get_max_threads()  # one query at a time, as on the request path
    faiss.omp_set_num_threads(settings.serving.search_threads)
    try:
        got = _replay_test(test, test_keys, hours, state, recall, code_of, popular, last_item)
    finally:
        faiss.omp_set_num_threads(threads)
    scores = {m: np.array(got[m], dtype=float).reshape(-1, 2) for m in METHODS}
    return {
        "events": len(got["live"]),
        "shoppers": len({key for key, counted in zip(test_keys, got["counted"], strict=True) if counted}),
        "recall@20": {m: round(float(scores[m][:, 0].mean()), 4) if len(scores[m]) else 0.0 for m in METHODS},
        "mrr@20": {m: round(float(scores[m][:, 1].mean()), 4) if len(scores[m]) else 0.0 for m in METHODS},
        "train_events": len(train), "test_events": len(test),
        "fit_seconds": round(fit_seconds, 1), "seconds": round(time.perf_counter() - started, 1),
    }


def _replay_test(test: pd.DataFrame, test_keys: list[str], hours: np.ndarray, state: LiveState,
                 recall: HomepageRecall, code_of: dict, popular: np.ndarray, last_item: dict) -> dict:
    """Each counted test event's (hit, reciprocal rank) per method, lists taken before it is ingested."""
    frozen_cache: dict[tuple[str, int], np.ndarray] = {}
    got: dict[str, list] = {m: [] for m in METHODS}
    got["counted"] = []
    rows = test.to_dict("records")
    for key, row, hour in zip(test_keys, rows, hours.tolist(), strict=True):
        item = int(row["item_id"])
        previous = last_item.get(key)
        if previous is not None and previous != item:
            frozen = frozen_cache.get((key, hour))
            if frozen is None:
                frozen = frozen_cache[(key, hour)] = recall.merged(code_of.get(key), hour, 100)
            user = row["user_id"] if row["user_id"] >= 0 else None
            session = row["session_id"] if isinstance(row["session_id"], str) else None
            view = state.shopper_view(user, None if user is not None else session, int(row["timestamp_ms"]))
            live = live_candidates(state, view, frozen, popular, K)
            for method, ranked in (("popularity", popular), ("frozen", frozen), ("live", live)):
                got[method].append(_score(ranked, item))
        got["counted"].append(previous is not None and previous != item)
        last_item[key] = item
        state.apply(TABLE_OF[row["event"]], [_log_row(row)])
    return got


def _log_row(row: dict) -> dict:
    """One test event as the event log's row."""
    out = {"timestamp": int(row["timestamp_ms"]), "product_id": int(row["item_id"]),
           "user_id": int(row["user_id"]) if row["user_id"] >= 0 else None,
           "session_id": row["session_id"] if isinstance(row["session_id"], str) else None}
    if row["event"] == "order":
        out.update(price_paid=0.0, quantity=1)
    return out


def next_item_eval(train_path: Path, test_path: Path, fmt: str, settings: Settings) -> dict:
    """``shelfrank eval next-item``: read both files, check TEST follows TRAIN, evaluate."""
    train, test = read_next_item_events(train_path, fmt), read_next_item_events(test_path, fmt)
    if train.timestamp_ms.max() > test.timestamp_ms.min():
        raise ValueError("the test events must come after every train event (split by time)")
    if fmt == "taobao":
        from training.real_data.taobao import TIMEZONE

        timezone = TIMEZONE
    else:
        timezone = settings.mall.timezone
    return evaluate_next_item(train, test, settings, timezone)
