"""Taobao UserBehavior: Shelfrank's homepage recall on real users' next-day behaviour.

The data (``../shared/datasets/taobao_userbehavior/``) are page views, carts, favourites
and buys (``user_id,item_id,category_id,behavior,timestamp``, no header, Unix seconds).
``split_by_last_day`` holds out the last calendar day (Asia/Shanghai) as the test file.

The train file becomes the mall's interaction tables (page view = click, cart or
favourite = cart, buy = order) and a :class:`ranking.recall.homepage.HomepageCatalog`
(category = leaf; merit and trending velocity = recency-weighted interactions, half-life
one day; taste per time slot from the user's own category history; consumable
categories = those some user bought on two different days), and
:meth:`HomepageRecall.fit_catalog` fits the same recall the service runs. Sources that
need what Taobao lacks (subsidy channel, new stores, time-slot themes) are empty.

For every user present in both files, the test day's interacted items are the truth:
**all** of them, and those **new** to the user (not in their train history). Recall's
sources run at the hour of the user's first test event; ``shelfrank`` orders their union
with a LambdaRank model trained on earlier days, ``recall_rrf`` by the sources' weighted
reciprocal-rank fusion (as ``HomepageRecall.merged`` orders them; k = ``recall.rrf_k``). For *new*,
items the user already saw are excluded first (a discovery shelf), for every method.
Popularity ranks items by their train interaction count. Metrics: recall@20, recall@50
and binary-gain NDCG@20, averaged over users with at least one truth item.
"""

from __future__ import annotations

import time
from pathlib import Path

import faiss
import numpy as np
import pandas as pd

from ranking.features.inputs import slot_of_hour
from ranking.mall_clock import local_hour
from ranking.recall.homepage import HomepageCatalog, HomepageRecall
from ranking.settings import Settings

COLUMNS = ["user_id", "item_id", "category_id", "behavior", "timestamp"]
BEHAVIORS = ("pv", "cart", "fav", "buy")
TIMEZONE = "Asia/Shanghai"
DAY_MS = 86_400_000
WEIGHT = {"pv": 1.0, "cart": 2.0, "fav": 2.0, "buy": 4.0}


def read_events(path: Path) -> pd.DataFrame:
    """Events with a clear error for a file of another shape (no header, 5 columns)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        frame = pd.read_csv(path, header=None, names=COLUMNS)
    except ValueError as exc:  # not text, not CSV (pandas' errors are ValueErrors)
        raise ValueError(f"{path}: not a readable CSV file ({exc})") from exc
    if frame.empty:
        raise ValueError(f"{path}: no events")
    if frame[["user_id", "item_id", "category_id", "timestamp"]].isna().any().any():
        raise ValueError(f"{path}: expected 5 columns {COLUMNS} with no empty values")
    unknown = sorted(set(frame.behavior.unique()) - set(BEHAVIORS))
    if unknown:
        raise ValueError(f"{path}: unknown behavior(s) {unknown[:5]}; expected {list(BEHAVIORS)}")
    for c in ("user_id", "item_id", "category_id", "timestamp"):
        frame[c] = frame[c].astype(np.int64)
    return frame


def local_day(events: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(events.timestamp, unit="s", utc=True).dt.tz_convert(TIMEZONE).dt.date


def split_by_last_day(events: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test): every day before the last local day, and the last day."""
    day = local_day(events)
    last = day.max()
    return events[day < last].reset_index(drop=True), events[day == last].reset_index(drop=True)


def _tables(events: pd.DataFrame) -> dict[str, pd.DataFrame]:
    ms = events.timestamp.to_numpy(np.int64) * 1000
    frame = pd.DataFrame(
        {"user_id": events.user_id.to_numpy(), "product_id": events.item_id.to_numpy(), "timestamp": ms}
    )
    b = events.behavior.to_numpy()
    return {
        "clicks": frame[b == "pv"],
        "carts": frame[np.isin(b, ["cart", "fav"])],
        "orders": frame[b == "buy"],
    }


def taobao_local_hour(seconds: np.ndarray) -> np.ndarray:
    """Hour of day on the mall's clock for Taobao's epoch seconds."""
    return local_hour(np.asarray(seconds, dtype=np.int64) * 1000, TIMEZONE)


def build_catalog(train: pd.DataFrame, as_of_ms: int, half_life_days: float = 1.0) -> HomepageCatalog:
    """The train events as the arrays homepage recall fits on."""
    items = train.drop_duplicates("item_id").sort_values("item_id")
    pid = items.item_id.to_numpy(np.int64)
    cats, leaf = np.unique(items.category_id.to_numpy(np.int64), return_inverse=True)
    uid = np.sort(train.user_id.unique()).astype(np.int64)
    p = np.searchsorted(pid, train.item_id.to_numpy(np.int64))
    u = np.searchsorted(uid, train.user_id.to_numpy(np.int64))
    w = train.behavior.map(WEIGHT).to_numpy(float)
    age = (as_of_ms - train.timestamp.to_numpy(np.int64) * 1000) / DAY_MS
    velocity = np.bincount(p, weights=w * np.power(0.5, age / half_life_days), minlength=len(pid))
    taste = np.zeros((len(uid), len(cats), 3), dtype=np.float32)
    np.add.at(taste, (u, leaf[p], slot_of_hour(taobao_local_hour(train.timestamp.to_numpy()))), w)
    # a little of each user's all-day taste in every slot, so a slot they never used still ranks
    taste += 0.25 * taste.sum(axis=2, keepdims=True)
    buys = train[train.behavior == "buy"]
    bu = np.searchsorted(uid, buys.user_id.to_numpy(np.int64))
    bl = leaf[np.searchsorted(pid, buys.item_id.to_numpy(np.int64))]
    stride = len(cats) + 1
    keys = np.unique(bu.astype(np.int64) * stride + bl)
    days = pd.DataFrame({"u": bu, "l": bl, "d": local_day(buys).to_numpy()}).drop_duplicates()
    repeat = days.groupby(["u", "l"]).size()
    consumable = np.unique(repeat[repeat >= 2].index.get_level_values("l").to_numpy())
    return HomepageCatalog(
        product_ids=pid,
        user_ids=uid,
        leaf=leaf.astype(np.int64),
        n_leaves=len(cats),
        merit=velocity.astype(np.float32),
        velocity=velocity,
        live=np.ones(len(pid), bool),
        subsidy=np.zeros(len(pid), bool),
        new_store=np.zeros(len(pid), bool),
        user_leaf_slot=taste,
        leaf_theme_slot=np.full(len(cats), -1, np.int64),
        consumable_leaves=consumable.astype(np.int64),
        bought_keys=keys,
        bought_stride=stride,
    )


def _recall(ranked: np.ndarray, truth: set[int], k: int) -> float:
    return len(truth & set(ranked[:k].tolist())) / len(truth)


def _ndcg(ranked: np.ndarray, truth: set[int], k: int) -> float:
    hits = np.array([int(x) in truth for x in ranked[:k]], dtype=float)
    dcg = float((hits / np.log2(np.arange(2, len(hits) + 2))).sum())
    ideal = float((1.0 / np.log2(np.arange(2, min(len(truth), k) + 2))).sum())
    return dcg / ideal


RANKED_SOURCES = (
    "recently_viewed", "personal", "similar", "top_categories", "recent_categories", "trending", "repurchase"
)
CANDIDATE_FEATURES = (
    *(f"rank_{name}" for name in RANKED_SOURCES),
    "sources",
    "rrf",
    "views",
    "carts",
    "favs",
    "buys",
    "hours_since_last",
    "active_days",
    "item_views",
    "item_users",
    "item_velocity",
    "user_events",
    "category_share",
    "category_recent",
    "hours_since_category",
    "item_hours_since_last",
    "hour",
)


def candidate_frame(
    events: pd.DataFrame, users: np.ndarray, hours: np.ndarray, settings: Settings, per_source: int = 100
) -> tuple[pd.DataFrame, np.ndarray]:
    """Homepage recall fitted on ``events``, and one row per (user, candidate) with features.

    Features are each source's rank (NaN when the source did not return the item), how
    many sources agree, the fused RRF score, the user's own history with the item and
    its category, and the item's popularity and recency-weighted velocity.
    """
    as_of_ms = int(events.timestamp.max()) * 1000 + 1
    catalog = build_catalog(events, as_of_ms)
    rd = settings.real_data
    quotas = {name: per_source for name in settings.recall.homepage_quotas}
    recall = HomepageRecall.fit_catalog(
        _tables(events),
        as_of_ms,
        catalog,
        quotas,
        dim=rd.taobao_item_embedding_dim,
        recent_items=rd.taobao_recent_items,
        half_life_days=rd.taobao_half_life_days,
        seed=rd.seed,
        source_weights=settings.recall.homepage_source_weights,
        similar_lists=False,
    )
    rows: list[tuple[int, int, str, int]] = []
    # one query at a time, as on the request path: one FAISS thread (many spin on a busy machine)
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(settings.serving.search_threads)
    try:
        for user, hour in zip(users.tolist(), hours.tolist(), strict=True):
            for source, (ids, _) in recall.sources(int(user), int(hour)).items():
                rows.extend((user, int(i), source, r + 1) for r, i in enumerate(ids.tolist()))
    finally:
        faiss.omp_set_num_threads(threads)
    long = pd.DataFrame(rows, columns=["user_id", "item_id", "source", "rank"])
    wide = long.pivot_table(index=["user_id", "item_id"], columns="source", values="rank", aggfunc="min")
    frame = pd.DataFrame(index=wide.index)
    weights = settings.recall.homepage_source_weights
    rrf = np.zeros(len(wide))
    for name in RANKED_SOURCES:
        col = wide[name].to_numpy(float) if name in wide else np.full(len(wide), np.nan)
        frame[f"rank_{name}"] = col
        rrf += np.nan_to_num(weights.get(name, 1.0) / (settings.recall.rrf_k + col), nan=0.0)
    frame["sources"] = wide.notna().sum(axis=1).to_numpy()
    frame["rrf"] = rrf
    frame = frame.reset_index()
    ui = events.pivot_table(
        index=["user_id", "item_id"], columns="behavior", values="timestamp", aggfunc="count", fill_value=0
    )
    ui = ui.reindex(columns=list(BEHAVIORS), fill_value=0)
    ui.columns = ["views", "carts", "favs", "buys"]
    last = events.groupby(["user_id", "item_id"]).timestamp.max()
    days = pd.Series(local_day(events).to_numpy(), index=events.index)
    active = events.assign(day=days).groupby(["user_id", "item_id"]).day.nunique()
    key = pd.MultiIndex.from_frame(frame[["user_id", "item_id"]])
    for c in ui.columns:
        frame[c] = ui[c].reindex(key).fillna(0).to_numpy()
    frame["hours_since_last"] = (as_of_ms / 1000 - last.reindex(key).to_numpy(float)) / 3600
    frame["active_days"] = active.reindex(key).fillna(0).to_numpy()
    item = events.groupby("item_id")
    frame["item_views"] = item.size().reindex(frame.item_id).fillna(0).to_numpy()
    frame["item_users"] = item.user_id.nunique().reindex(frame.item_id).fillna(0).to_numpy()
    vel = pd.Series(catalog.velocity, index=catalog.product_ids)
    frame["item_velocity"] = vel.reindex(frame.item_id).fillna(0).to_numpy()
    frame["user_events"] = events.groupby("user_id").size().reindex(frame.user_id).fillna(0).to_numpy()
    cat_of_item = events.drop_duplicates("item_id").set_index("item_id").category_id
    uc = events.groupby(["user_id", "category_id"]).size()
    cats = cat_of_item.reindex(frame.item_id).to_numpy()
    share = uc.reindex(pd.MultiIndex.from_arrays([frame.user_id.to_numpy(), cats])).to_numpy(float)
    frame["category_share"] = np.nan_to_num(share, nan=0.0) / np.maximum(frame.user_events.to_numpy(), 1)
    # the user's recent taste for the item's category (one-day half-life, behaviour weights)
    decay = events.behavior.map(WEIGHT).to_numpy(float) * np.power(
        0.5, (as_of_ms / 1000 - events.timestamp.to_numpy(float)) / 86_400
    )
    ucw = pd.Series(decay).groupby([events.user_id.to_numpy(), events.category_id.to_numpy()]).sum()
    total = ucw.groupby(level=0).sum()
    cat_key = pd.MultiIndex.from_arrays([frame.user_id.to_numpy(), cats])
    frame["category_recent"] = np.nan_to_num(ucw.reindex(cat_key).to_numpy(float), nan=0.0) / np.maximum(
        total.reindex(frame.user_id).to_numpy(float), 1e-9
    )
    cat_last = events.groupby(["user_id", "category_id"]).timestamp.max()
    frame["hours_since_category"] = (as_of_ms / 1000 - cat_last.reindex(cat_key).to_numpy(float)) / 3600
    item_last = item.timestamp.max().reindex(frame.item_id).to_numpy(float)
    frame["item_hours_since_last"] = (as_of_ms / 1000 - item_last) / 3600
    frame["hour"] = pd.Series(hours, index=users).reindex(frame.user_id).to_numpy()
    frame = frame.sort_values(["user_id", "rrf"], ascending=[True, False], kind="stable").reset_index(
        drop=True
    )
    return frame, frame[list(CANDIDATE_FEATURES)].to_numpy(np.float32)


def _first_hours(later: pd.DataFrame, users: np.ndarray) -> np.ndarray:
    first = later.sort_values("timestamp").groupby("user_id").timestamp.first().reindex(users)
    return taobao_local_hour(first.to_numpy(np.int64))


def _labelled_day(history: pd.DataFrame, target: pd.DataFrame, settings: Settings
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features, labels, group sizes) of one target day's candidates, recall fitted on ``history``;
    users with no positive candidate carry no LambdaRank gradient and are dropped."""
    users = np.intersect1d(history.user_id.unique(), target.user_id.unique())
    frame, x = candidate_frame(history, users, _first_hours(target, users), settings)
    truth = set(zip(target.user_id.tolist(), target.item_id.tolist(), strict=True))
    label = np.array(
        [(u, i) in truth for u, i in zip(frame.user_id.tolist(), frame.item_id.tolist(), strict=True)],
        dtype=np.int32,
    )
    has_positive = frame.assign(y=label).groupby("user_id").y.transform("max").to_numpy() > 0
    frame, x, label = frame[has_positive], x[has_positive], label[has_positive]
    return x, label, frame.groupby("user_id", sort=False).size().to_numpy()


def train_candidate_ranker(train: pd.DataFrame, settings: Settings):
    """LambdaRank over the candidates of the train file's last ``taobao_ranker_days`` days,
    each day's recall fitted on the days before it (no day sees its own or later events)."""
    from training.learning.lambdarank import RankingData, train_lambdarank

    parts = []
    history = train
    for _ in range(settings.real_data.taobao_ranker_days):
        history, target = split_by_last_day(history)
        if history.empty or target.empty:
            break
        parts.append(_labelled_day(history, target, settings))
    x = np.concatenate([p[0] for p in parts])
    label = np.concatenate([p[1] for p in parts])
    group = np.concatenate([p[2] for p in parts])
    params = {
        "objective": "lambdarank",
        "num_leaves": 15,
        "learning_rate": 0.05,
        "min_data_in_leaf": 50,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "seed": settings.real_data.seed,
        "deterministic": True,
        "force_row_wise": True,
        "eval_at": [50],
    }
    data = RankingData(x, label, group, feature_names=list(CANDIDATE_FEATURES))
    return train_lambdarank(
        data,
        None,
        params,
        num_boost_round=200,
        early_stopping_rounds=None,
        position_debias=False,
        progress=False,
    )


def discovery_order(frame: pd.DataFrame, score: np.ndarray, source: str) -> np.ndarray:
    """Scores with each user's unseen candidates reordered by ``source``'s rank.

    The ranker keeps deciding how many of the list's slots go to items new to the user
    and where (the set of scores is unchanged); ``source`` decides which new items fill
    them, best rank first (the ranker's score breaks ties and orders items the source did
    not return). The ranker learns new items from a few hundred positives a day and orders
    them worse than ``recent_categories`` alone; empty ``source`` keeps the ranker's order.
    """
    score = np.asarray(score, dtype=float)
    if not source:
        return score
    new = np.flatnonzero((frame[["views", "carts", "favs", "buys"]].sum(axis=1) == 0).to_numpy())
    user, s = frame.user_id.to_numpy()[new], score[new]
    rank = np.nan_to_num(frame[f"rank_{source}"].to_numpy(float)[new], nan=np.inf)
    by_score = new[np.lexsort((-s, user))]
    by_source = new[np.lexsort((-s, rank, user))]
    out = score.copy()
    out[by_source] = score[by_score]
    return out


def _source_recall(frame: pd.DataFrame, truth_by_user: pd.Series, seen_by: pd.Series, k: int) -> dict:
    """Recall@k of each source's own list (its rank order), over all items and new items."""
    out: dict = {}
    for name in RANKED_SOURCES:
        col = f"rank_{name}"
        got = frame[frame[col].notna()].sort_values(["user_id", col], kind="stable")
        lists = {u: g.item_id.to_numpy(np.int64) for u, g in got.groupby("user_id", sort=False)}
        res: dict[str, list[float]] = {"all": [], "new": []}
        for user, truth in truth_by_user.items():
            seen = seen_by[user]
            ranked = lists.get(user, np.zeros(0, np.int64))
            res["all"].append(_recall(ranked, truth, k))
            new = truth - set(seen.tolist())
            if new:
                res["new"].append(_recall(ranked[~np.isin(ranked, seen)], new, k))
        out[name] = {part: round(float(np.mean(v)), 4) for part, v in res.items()}
    return out


def _ceilings(train: pd.DataFrame, frame: pd.DataFrame, truth_by_user: pd.Series, seen_by: pd.Series,
              ranked: dict, k: int) -> dict:
    """What any list could reach, user-averaged like the metrics: the share of the test day's
    items the user had seen (``history``; ``history@k`` when only k of them may be listed),
    the share of their new items that exist in the train file at all (``new_in_train``: no
    recall can name the rest), the candidate pool's recall (any rank), and shelfrank's
    recall@k split into its seen and new hits (``shelfrank_seen`` + ``shelfrank_new``)."""
    catalog = set(train.item_id.astype(int).tolist())
    pool = {u: set(g.item_id.astype(int).tolist()) for u, g in frame.groupby("user_id", sort=False)}
    res: dict[str, list[float]] = {
        name: [] for name in ("history", f"history@{k}", "pool_all", "shelfrank_seen", "shelfrank_new")
    }
    new_res: dict[str, list[float]] = {"new_in_train": [], "pool_new": []}
    for user, truth in truth_by_user.items():
        seen = set(seen_by[user].tolist())
        again, new = truth & seen, truth - seen
        cands, top = pool.get(user, set()), set(ranked.get(user, np.zeros(0, np.int64))[:k].tolist())
        res["history"].append(len(again) / len(truth))
        res[f"history@{k}"].append(min(len(again), k) / len(truth))
        res["pool_all"].append(len(truth & cands) / len(truth))
        res["shelfrank_seen"].append(len(again & top) / len(truth))
        res["shelfrank_new"].append(len(new & top) / len(truth))
        if new:
            new_res["new_in_train"].append(len(new & catalog) / len(new))
            new_res["pool_new"].append(len(new & cands) / len(new))
    return {name: round(float(np.mean(v)), 4) for name, v in {**res, **new_res}.items()}


def evaluate_taobao(
    train: pd.DataFrame, test: pd.DataFrame, settings: Settings, progress: bool = True
) -> dict:
    """The ``shelfrank eval taobao`` metrics.

    ``shelfrank``: homepage recall's candidates ordered by a LambdaRank trained on the
    train file's own last days (the service's recall-then-rank), its slots for items new
    to the user filled in ``taobao_discovery_source`` order; ``recall_rrf``: the
    recall's merged list alone (weighted RRF of the sources); ``popularity``: global.
    """
    from training.learning.lambdarank import predict

    started = time.perf_counter()
    ranker = train_candidate_ranker(train, settings)
    fit_seconds = time.perf_counter() - started
    seen_by = train.groupby("user_id").item_id.apply(lambda s: np.unique(s.to_numpy(np.int64)))
    test = test[test.user_id.isin(seen_by.index)]
    users = np.sort(test.user_id.unique())
    frame, x = candidate_frame(train, users, _first_hours(test, users), settings)
    frame["score"] = discovery_order(frame, predict(ranker, x), settings.real_data.taobao_discovery_source)
    ranked_model = {
        u: g.item_id.to_numpy(np.int64)
        for u, g in frame.sort_values(["user_id", "score"], ascending=[True, False], kind="stable").groupby(
            "user_id", sort=False
        )
    }
    ranked_rrf = {u: g.item_id.to_numpy(np.int64) for u, g in frame.groupby("user_id", sort=False)}
    popular = (
        train.groupby("item_id").size().sort_values(ascending=False, kind="stable").index.to_numpy(np.int64)
    )
    truth_by_user = test.groupby("user_id").item_id.apply(lambda s: set(s.astype(int)))
    ks = {"recall@20": 20, "recall@50": 50, "ndcg@20": 20}
    methods = ("popularity", "shelfrank", "recall_rrf")
    scores = {part: {m: {meth: [] for meth in methods} for m in ks} for part in ("all", "new")}
    empty = np.zeros(0, np.int64)
    for user, truth in truth_by_user.items():
        seen = seen_by[user]
        for part in ("all", "new"):
            target = truth if part == "all" else truth - set(seen.tolist())
            if not target:
                continue
            lists = {
                "popularity": popular[:200],
                "shelfrank": ranked_model.get(user, empty),
                "recall_rrf": ranked_rrf.get(user, empty),
            }
            for method, ranked in lists.items():
                if part == "new":
                    ranked = ranked[~np.isin(ranked, seen)]
                for metric, k in ks.items():
                    fn = _ndcg if metric.startswith("ndcg") else _recall
                    scores[part][metric][method].append(fn(ranked, target, k))
    out: dict = {
        "users": len(truth_by_user),
        "sources": _source_recall(frame, truth_by_user, seen_by, 50),
        "ceilings": _ceilings(train, frame, truth_by_user, seen_by, ranked_model, 50),
    }
    for part in ("all", "new"):
        out[part] = {m: {meth: float(np.mean(v)) for meth, v in d.items()} for m, d in scores[part].items()}
        out[part]["users"] = len(scores[part]["recall@20"]["shelfrank"])
    importance = ranker.feature_importance("gain")
    out.update(
        {
            "train_events": len(train),
            "test_events": len(test),
            "candidates_per_user": round(len(frame) / max(len(users), 1), 1),
            "fit_seconds": round(fit_seconds, 1),
            "seconds": round(time.perf_counter() - started, 1),
            "feature_importance": dict(
                sorted(
                    ((f, round(float(v), 1)) for f, v in zip(CANDIDATE_FEATURES, importance, strict=True)),
                    key=lambda kv: -kv[1],
                )
            ),
        }
    )
    return out
