"""Which mall days train, validate and test, and the cards each part of the split gets.

Split by day on the mall clock (``split_days``): the last ``training.test_days`` are held
out for evaluation, the ``training.valid_days`` before them drive early stopping, and the
days from the end of the warm-up up to there train the model. ``validation_frame`` is the
validation days' cards (only their randomised slots with ``validate_on_randomised``), rows
shuffled within each request; ``ranking_data`` turns a frame into LightGBM's arrays. The
single-machine orchestrator (:mod:`training.learning.train`) and the Dask path
(:mod:`training.dask.parts`) split alike through this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.settings import Settings
from training.data.mall_data import MallTables
from training.learning.dataset import RankingFrame, TrainingDataError, day_index, mall_day_zero_ms
from training.learning.lambdarank import RankingData


@dataclass
class DaySplit:
    """Which mall days train, validate and test."""

    train: tuple[int, int]
    valid: tuple[int, int]
    test: tuple[int, int]

    def as_dict(self) -> dict:
        return {k: list(v) for k, v in self.__dict__.items()}


def split_days(n_days: int, settings: Settings) -> DaySplit:
    t = settings.training
    test_lo = n_days - t.test_days
    valid_lo = test_lo - t.valid_days
    if valid_lo <= t.warmup_days:
        raise TrainingDataError(
            f"impressions: {n_days} logged day(s) are too few for warm-up {t.warmup_days} + validation "
            f"{t.valid_days} + test {t.test_days} days (settings training.*)"
        )
    return DaySplit((t.warmup_days, valid_lo), (valid_lo, test_lo), (test_lo, n_days))


def logged_days(mall: MallTables, settings: Settings) -> int:
    """Mall days from the first impression's to the last one's (0 without impressions)."""
    if len(mall["impressions"]) == 0:
        return 0
    zero = mall_day_zero_ms(mall, settings.mall.timezone)
    return int(day_index(np.array([mall.last_ms]), zero)[0]) + 1


def ranking_data(frame: RankingFrame, keep_without_clicks: bool) -> RankingData:
    """LightGBM-ready arrays of a frame (optionally only requests with a click)."""
    if not keep_without_clicks:
        frame = frame.select(frame.requests_with(frame.grade > 0))
    return RankingData(
        features=frame.features,
        label=frame.grade.astype(np.int32),
        group=frame.group_sizes(),
        position=(frame.position - 1).astype(np.int32),
        weight=None,
        feature_names=frame.feature_names,
    )


def randomised_rows(frame: RankingFrame) -> np.ndarray:
    """Rows in the shuffled slots of requests the logging policy randomised.

    :func:`training.learning.position_bias.shuffled_requests` reads which requests were shuffled
    off the logged propensities. There, which product sits in which slot does not depend
    on the product, so clicks compare products without the logging policy's position
    advantage: an unbiased validation set for early stopping. Empty when the log has no
    randomisation.
    """
    import pandas as pd

    from training.learning.position_bias import shuffled_requests

    below = frame.propensity < 1
    try:
        ids, _, _ = shuffled_requests(pd.DataFrame({"request_id": frame.request_id,
                                                    "propensity": frame.propensity}))
    except ValueError:
        return np.zeros(len(frame), dtype=bool)
    return below & np.isin(frame.request_id, ids)


def shuffle_within_requests(frame: RankingFrame, seed: int) -> RankingFrame:
    """Rows of each request in random order (requests stay contiguous and in order).

    Logged rows come in slot order and clicks favour the top slots, so a metric that breaks
    score ties by row order (LightGBM's does) would credit slot order to a model whose
    scores tie; shuffled rows make ties neutral.
    """
    sizes = frame.group_sizes()
    request_index = np.repeat(np.arange(len(sizes)), sizes)
    order = np.lexsort((np.random.default_rng(seed).random(len(frame)), request_index))
    return frame.select(order)


def validation_frame(frame: RankingFrame, split: DaySplit, settings: Settings) -> RankingFrame:
    """The validation days' cards (only their randomised slots with ``validate_on_randomised``),
    rows shuffled within each request."""
    days = frame.select((frame.day >= split.valid[0]) & (frame.day < split.valid[1]))
    if settings.training.validate_on_randomised:
        rows = randomised_rows(days)
        if rows.sum() >= 1000:
            days = days.select(rows)
    return shuffle_within_requests(days, settings.training.seed)


