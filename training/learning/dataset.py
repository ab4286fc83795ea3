"""The learning-to-rank dataset: every logged card after the warm-up, with its features,
its grade and its context, built point-in-time.

Days are counted on the mall's clock from the first logged day. The first
``warmup_days`` only build history. From then on the cards are featurised a cut of
``snapshot_every_days`` at a time, and within it each card reads the snapshot taken at local
midnight at the start of its ``score_cadence_days`` period (daily by default: the scores, profiles
and leaf price medians the service reads are the daily ``shelfrank scores``), so no feature of a
request sees events at or after its day's midnight. The live features differ by design: the
logs are replayed through a live state (:mod:`training.learning.live_replay`) and each
request reads it as it stood just before the request (events strictly before its
timestamp), as the service reads its live state.
So do the catalog's prices, stock, subsidy and bans of a merged dataset with a change history:
each card reads its product's values as of its request (the last change at or before it;
:mod:`training.learning.catalog_timeline`). Rows are grouped by request (cards in position order).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from tqdm import tqdm

from ranking.features import Requests, build_inputs, compute_features, feature_names
from ranking.live.features import LIVE_COLUMNS
from ranking.mall_clock import fixed_offset_ms
from ranking.settings import Settings
from ranking.surfaces import SURFACE_CODES
from training.data.mall_data import MallTables
from training.learning.catalog_timeline import CatalogTimeline
from training.learning.labels import grade_impressions
from training.learning.live_replay import live_feature_rows
from training.learning.snapshot_builder import CatalogCache, build_snapshot

DAY_MS = 86_400_000
ROWS_PER_BATCH = 500_000


class TrainingDataError(ValueError):
    """The mall's logs cannot make (or evaluate) a model as the settings ask: too few days,
    no clicks, no orders, a log whose randomisation says nothing about position bias. The
    message names the table or the setting; the command line prints it as one line."""


@dataclass
class RankingFrame:
    """Aligned arrays, one entry per logged card, rows of a request contiguous."""

    features: np.ndarray
    grade: np.ndarray
    request_id: np.ndarray
    product_id: np.ndarray
    user_id: np.ndarray
    query_id: np.ndarray
    hour: np.ndarray
    surface: np.ndarray
    position: np.ndarray
    propensity: np.ndarray
    day: np.ndarray
    feature_names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.grade)

    def select(self, mask: np.ndarray) -> RankingFrame:
        kw = {k: v[mask] for k, v in self.__dict__.items() if isinstance(v, np.ndarray)}
        return RankingFrame(**kw, feature_names=self.feature_names)

    def group_sizes(self) -> np.ndarray:
        """Cards per request, in row order (rows of a request are contiguous); none if empty."""
        if len(self.request_id) == 0:
            return np.zeros(0, dtype=np.int64)
        change = np.flatnonzero(np.diff(self.request_id)) + 1
        bounds = np.concatenate([[0], change, [len(self.request_id)]])
        return np.diff(bounds)

    def requests_with(self, predicate_rows: np.ndarray) -> np.ndarray:
        """Row mask of the requests in which any row satisfies ``predicate_rows``."""
        hit = np.unique(self.request_id[predicate_rows])
        return np.isin(self.request_id, hit)


def mall_day_zero_ms(mall: MallTables, timezone: str) -> int:
    """UTC ms of local midnight of the first logged day."""
    return day_zero_ms(mall.first_ms, timezone)


def day_zero_ms(first_ms: int, timezone: str) -> int:
    """UTC ms of local midnight of the day holding ``first_ms``."""
    offset = fixed_offset_ms(timezone) or 0
    return ((int(first_ms) + offset) // DAY_MS) * DAY_MS - offset


def day_index(ts_ms: np.ndarray, zero_ms: int) -> np.ndarray:
    return ((ts_ms - zero_ms) // DAY_MS).astype(np.int32)


def cut_days(n_days: int, settings: Settings) -> list[int]:
    t = settings.training
    return list(range(t.warmup_days, n_days, t.snapshot_every_days))


def sampled_requests(request_id: np.ndarray, share: float) -> np.ndarray:
    """Whether each row's request is in a deterministic ``share`` of requests (a hash of the
    request id, so every card of a request goes the same way, whatever the day)."""
    x = request_id.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    x ^= x >> np.uint64(31)
    return (x % np.uint64(1 << 20)).astype(np.float64) < share * (1 << 20)


def card_columns(imp: pd.DataFrame, mall: MallTables, zero_ms: int,
                 settings: Settings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mall day, grade, local hour) of each impression row; each row's own, so a subset of
    the impressions gets the same values as the whole table."""
    ts = imp.timestamp.to_numpy()
    day = day_index(ts, zero_ms)
    grade = grade_impressions(imp, mall["clicks"], mall["carts"], mall["orders"])
    offset = fixed_offset_ms(settings.mall.timezone) or 0
    hour = (((ts + offset) // 3_600_000) % 24).astype(np.int8)
    return day, grade, hour


def wanted_rows(day: np.ndarray, request_id: np.ndarray, first_cut: int | None, settings: Settings,
                days: tuple[int, int] | None = None) -> np.ndarray:
    """Rows to featurise: after the warm-up, in the request sample, within ``days``."""
    wanted = (day >= first_cut) if first_cut is not None else np.zeros(len(day), bool)
    sample = settings.training.request_sample
    if sample < 1.0:
        wanted &= sampled_requests(request_id, sample)
    if days is not None:
        wanted &= (day >= days[0]) & (day < days[1])
    return wanted


def query_texts(mall: MallTables) -> dict:
    return dict(zip(mall["queries"].query_id.to_numpy(), mall["queries"].text, strict=True))


def featurise_cut(mall: MallTables, imp: pd.DataFrame, rows: np.ndarray, cut_ms: int,
                  settings: Settings, columns, texts: dict, catalog: CatalogCache | None = None,
                  search=None, live: np.ndarray | None = None,
                  timeline: CatalogTimeline | None = None) -> list[RankingFrame]:
    """One snapshot cut's cards (``rows`` of ``imp``, the cut's days): each card featurised from
    the snapshot at the start of its ``training.score_cadence_days`` period within the cut (the
    cut's first moment ``cut_ms`` with a cadence of a cut or more), in batches of
    ``ROWS_PER_BATCH`` rows. ``mall`` must hold the events up to the cut's last snapshot.
    ``columns`` is :func:`card_columns` of ``imp``; ``live`` the live columns of ``rows``
    (:func:`training.learning.live_replay.live_feature_rows`; None: missing); ``timeline`` the
    dataset's catalog history (None: read from ``mall.data_dir``, if it has one). Used by both
    the local and the Dask builds."""
    timeline = timeline if timeline is not None else CatalogTimeline.load(mall.data_dir)
    period = settings.training.score_cadence_days * DAY_MS
    start = cut_ms + (imp.timestamp.to_numpy()[rows] - cut_ms) // period * period
    parts: list[RankingFrame] = []
    for at_ms in np.unique(start):  # requests keep one timestamp: a request is in one period
        mine = start == at_ms
        parts.extend(_featurise_snapshot(mall, imp, rows[mine], int(at_ms), settings, columns, texts,
                                         catalog, search, None if live is None else live[mine], timeline))
    return parts


def _featurise_snapshot(mall: MallTables, imp: pd.DataFrame, rows: np.ndarray, at_ms: int,
                        settings: Settings, columns, texts: dict, catalog: CatalogCache | None,
                        search, live: np.ndarray | None,
                        timeline: CatalogTimeline | None) -> list[RankingFrame]:
    """The cards ``rows`` featurised from the snapshot at ``at_ms`` (and the catalog as of each
    request, given a ``timeline``)."""
    snapshot = build_snapshot(mall, at_ms, settings, catalog, timeline)
    at = None
    if timeline is not None and len(rows):
        when = imp.timestamp.to_numpy()[rows]
        at = timeline.over(snapshot, settings.scores.price_advantage_clip, int(when.min()), int(when.max()))
    day, grade, hour = columns
    names = feature_names()
    return [_featurise(imp, rows[lo:lo + ROWS_PER_BATCH], snapshot, grade, hour, day, texts,
                       names, search, None if live is None else live[lo:lo + ROWS_PER_BATCH], at)
            for lo in range(0, len(rows), ROWS_PER_BATCH)]


def build_ranking_frame(mall: MallTables, settings: Settings, progress: bool = True,
                        days: tuple[int, int] | None = None, search=None) -> RankingFrame:
    """Featurise every logged card after the warm-up, point-in-time (see module docstring).

    ``days`` (first, end) limits the work to the cards of those mall days. ``search`` (a
    :class:`ranking.recall.search.SearchRecall`) supplies the recall-side features
    (``dense_similarity``) exactly as the service computes them. On a Dask cluster:
    :func:`training.dask.features.build_ranking_frame_on_dask` (the same frame).
    """
    imp = mall["impressions"]
    zero = mall_day_zero_ms(mall, settings.mall.timezone)
    columns = card_columns(imp, mall, zero, settings)
    day = columns[0]
    n_days = int(day.max()) + 1 if len(day) else 0
    texts = query_texts(mall)
    catalog = CatalogCache(mall)
    names = feature_names()
    cuts = cut_days(n_days, settings)
    parts: list[RankingFrame] = []
    timeline = CatalogTimeline.load(mall.data_dir)
    wanted = wanted_rows(day, imp.request_id.to_numpy(), cuts[0] if cuts else None, settings, days)
    wanted_index = np.flatnonzero(wanted)
    live = (live_feature_rows(mall, imp, wanted_index, settings, progress)
            if settings.training.live_features else None)
    bar = tqdm(total=int(wanted.sum()), desc="building features",
               unit="card", unit_scale=True, disable=not progress)
    for k, cut in enumerate(cuts):
        end = cuts[k + 1] if k + 1 < len(cuts) else n_days
        rows = np.flatnonzero((day >= cut) & (day < end) & wanted)
        if len(rows) == 0:
            continue
        live_rows = None if live is None else live[np.searchsorted(wanted_index, rows)]
        parts.extend(featurise_cut(mall, imp, rows, zero + cut * DAY_MS, settings, columns, texts,
                                   catalog, search, live_rows, timeline))
        bar.update(len(rows))
    bar.close()
    if not parts:
        raise TrainingDataError(
            f"impressions: no logged card to featurise after the {settings.training.warmup_days}-day "
            f"warm-up (training.warmup_days) in {n_days} logged day(s)"
            + (f" within days {days}" if days is not None else ""))
    return sort_frame(parts, names)


def sort_frame(parts: list[RankingFrame], names: list[str]) -> RankingFrame:
    """The parts (in cut order) as one frame, rows ordered by request id then position.

    The same rows as concatenating and then sorting, but each part's columns are scattered
    straight to their sorted rows and the part is dropped (``parts`` is emptied): the peak
    is about one frame plus one part, not three frames (parts, concatenation, sorted copy).
    """
    request_id = np.concatenate([p.request_id for p in parts])
    position = np.concatenate([p.position for p in parts])
    order = np.lexsort((position, request_id))
    del position
    dest = np.empty_like(order)
    dest[order] = np.arange(len(order))  # the sorted row of each concatenated row
    del order
    keys = [k for k, v in parts[0].__dict__.items() if isinstance(v, np.ndarray)]
    out = {k: np.empty((len(dest), *getattr(parts[0], k).shape[1:]), getattr(parts[0], k).dtype)
           for k in keys}
    lo = 0
    while parts:
        part = parts.pop(0)
        rows = dest[lo:lo + len(part)]
        for k in keys:
            out[k][rows] = getattr(part, k)
        lo += len(part)
        del part
    return RankingFrame(**out, feature_names=names)


def _featurise(imp: pd.DataFrame, rows: np.ndarray, snapshot, grade, hour, day, texts,
               names, search=None, live: np.ndarray | None = None, at=None) -> RankingFrame:
    sub = imp.iloc[rows]
    request_id = sub.request_id.to_numpy()
    _, first, inverse = np.unique(request_id, return_index=True, return_inverse=True)
    qid = sub.query_id.to_numpy()
    q_first = qid[first]
    surface = sub.surface.map(SURFACE_CODES).to_numpy().astype(np.int8)
    requests = Requests(
        user_id=sub.user_id.to_numpy()[first].astype(np.int64),
        query_text=[texts.get(int(q)) if not np.isnan(q) else None for q in q_first.astype(float)],
        hour=hour[rows][first],
        surface=surface[first],
    )
    extra = {}
    if search is not None:
        extra["dense_similarity"] = search.dense_similarity(
            requests.query_text, inverse.ravel(), sub.product_id.to_numpy().astype(np.int64))
    if live is not None:
        extra.update({name: live[:, j] for j, name in enumerate(LIVE_COLUMNS)})
    as_of = None if at is None else at.values(sub.product_id.to_numpy(), sub.timestamp.to_numpy())
    inputs = build_inputs(snapshot, sub.product_id.to_numpy(), inverse.ravel(), requests, extra=extra,
                          as_of=as_of)
    return RankingFrame(
        features=compute_features(inputs),
        grade=grade[rows],
        request_id=request_id.astype(np.int64),
        product_id=sub.product_id.to_numpy().astype(np.int64),
        user_id=sub.user_id.to_numpy().astype(np.int64),
        query_id=np.nan_to_num(qid.astype(float), nan=-1).astype(np.int64),
        hour=hour[rows],
        surface=surface,
        position=sub.position.to_numpy().astype(np.int16),
        propensity=sub.propensity.to_numpy(),
        day=day[rows],
        feature_names=names,
    )


def concat_frames(parts: list[RankingFrame], names: list[str]) -> RankingFrame:
    """The parts' rows one after the other (no sorting)."""
    keys = [k for k, v in parts[0].__dict__.items() if isinstance(v, np.ndarray)]
    return RankingFrame(**{k: np.concatenate([getattr(p, k) for p in parts]) for k in keys},
                        feature_names=names)
