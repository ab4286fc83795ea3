"""Loading a mall's tables once for training and evaluation (validated, as pandas)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ranking.contracts.frames import load_frames


@dataclass
class MallTables:
    """Every contract table of a dataset folder, timestamps as UTC epoch ms (int64)."""

    data_dir: Path
    tables: dict[str, pd.DataFrame]

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]

    @property
    def first_ms(self) -> int:
        return int(self.tables["impressions"].timestamp.min())

    @property
    def last_ms(self) -> int:
        return int(self.tables["impressions"].timestamp.max())


def load_mall(data_dir: str | Path) -> MallTables:
    """Read and validate every table; timestamp columns become int64 epoch ms (-1 = null)."""
    return MallTables(Path(data_dir), load_frames(data_dir))


CATALOG_TABLES = ("products", "brands", "categories")


def load_catalog(data_dir: str | Path) -> MallTables:
    """Only the catalog tables (what search recall is built from): no events."""
    return MallTables(Path(data_dir), load_frames(data_dir, list(CATALOG_TABLES)))
