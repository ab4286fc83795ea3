"""Contract tables as pandas frames with timestamps as UTC epoch milliseconds.

Training, scoring and evaluation do arithmetic on time (windows, as-of cuts, decay), so
every timestamp column becomes ``int64`` epoch ms with ``-1`` for null (e.g. an undelivered
shipment's ``delivered_at``). Every table is validated by :func:`read_table` on the way in.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from ranking.contracts.io import read_table
from ranking.contracts.tables import TABLES
from ranking.mall_clock import to_epoch_ms

NULL_MS = -1


def _is_time_column(name: str) -> bool:
    return name == "timestamp" or name.endswith("_at")


def load_frames(data_dir: str | Path, names: Iterable[str] | None = None) -> dict[str, pd.DataFrame]:
    """Read and validate tables (all by default); timestamp columns become int64 epoch ms."""
    data_dir = Path(data_dir)
    frames: dict[str, pd.DataFrame] = {}
    for name in names or TABLES:
        frame = read_table(data_dir, name).to_pandas()
        for col in frame.columns:
            if _is_time_column(col):
                values = frame[col]
                mask = values.isna().to_numpy()
                ms = np.full(len(frame), NULL_MS, dtype=np.int64)
                if (~mask).any():
                    ms[~mask] = to_epoch_ms(values[~mask])
                frame[col] = ms
        frames[name] = frame
    return frames
