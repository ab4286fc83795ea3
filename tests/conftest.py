"""Shared fixtures: a small simulated mall (made once per test session) and the real datasets."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATASETS = (REPO / ".." / "shared" / "datasets").resolve()


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """``../shared/datasets``; tests that need it skip with the reason when it is absent."""
    if not SHARED_DATASETS.is_dir():
        pytest.skip(
            f"real datasets not found at {SHARED_DATASETS} (a fresh clone has no ../shared); "
            "CI provides them"
        )
    return SHARED_DATASETS


@pytest.fixture(scope="session")
def small_mall(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated mall (scale=small, seed=7), written once and shared read-only."""
    from ranking.settings import MallSettings, SimulatorSettings
    from training.simulator import simulate

    out = tmp_path_factory.mktemp("small_mall")
    simulate(out, SimulatorSettings(scale="small", seed=7), MallSettings(), progress=False)
    return out


@pytest.fixture(scope="session")
def small_models(small_mall: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder holding one bundle trained on ``small_mall`` (``latest`` points at it)."""
    from ranking.settings import load_settings
    from training.learning.train import train_bundle

    models = tmp_path_factory.mktemp("models")
    settings = load_settings(["training.num_boost_round=60", "training.early_stopping_rounds=15",
                              "training.funnel.num_boost_round=120"])
    train_bundle(small_mall, models, settings, progress=False)
    return models


def record_reliability(name: str, **figures) -> None:
    """Write a reliability figure for ``python -m bench.reliability`` (only when it asks)."""
    import json
    import os

    out = os.environ.get("SHELFRANK_RELIABILITY_OUT")
    if out:
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.json").write_text(json.dumps(figures, default=float))
