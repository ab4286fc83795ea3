"""The ranking model: LightGBM trees, scoring and per-feature explanations.

The trees are either the purchase funnel (a click stage and an order stage merged into one
model whose raw score is about the log-odds of a purchase, :mod:`training.learning.funnel`) or LambdaRank;
serving treats both the same: higher raw score ranks first.

Loaded from LightGBM's own text format (never a pickle). On the request path it scores
with one thread, through the trees compiled to machine code by lleaves when the bundle
carries them (``compiled/model-small.so`` or ``compiled/model.so``, built at training time,
hashed in the manifest;
about 3.7x faster than ``Booster.predict`` here, scores equal to 1e-14; how they are built,
loaded and called: :mod:`ranking.compiled_trees`), else through LightGBM itself.
``contributions`` always uses LightGBM's ``pred_contrib`` (one column per feature plus the
bias), which is what ``explain`` shows.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np

from ranking.compiled_trees import CompiledTrees, compile_trees

log = logging.getLogger("shelfrank.model")
COMPILED_FILE = "model.so"  # the trees compiled with lleaves' default (large) code model
# the trees compiled with the small code model (ranking.compiled_trees): a name of its own, so a
# service older than it, which would load it with LLVM's default loader (its sections apart, where
# the object's 32-bit offsets may not reach), finds no compiled trees and scores with LightGBM
SMALL_COMPILED_FILE = "model-small.so"


def compiler_available() -> bool:
    try:
        import lleaves  # noqa: F401
    except ImportError:
        return False
    return True


def compile_model(model_file: str | Path, folder: str | Path) -> tuple[float, Path]:
    """Compile a LightGBM text model into ``folder`` with lleaves; return the seconds and the
    object's path (:data:`SMALL_COMPILED_FILE` for the small code model, else
    :data:`COMPILED_FILE`)."""
    started = time.perf_counter()
    out = Path(folder) / COMPILED_FILE
    if compile_trees(model_file, out) == "small":  # named for what it is (a bundle is staged aside)
        out = out.replace(Path(folder) / SMALL_COMPILED_FILE)
    return time.perf_counter() - started, out


def compiled_file_in(folder: str | Path) -> Path:
    """The compiled trees' object in a bundle's ``folder``: the small code model's when there is
    one, else the default's (which may not exist either: then the model scores with LightGBM)."""
    small = Path(folder) / SMALL_COMPILED_FILE
    return small if small.exists() else Path(folder) / COMPILED_FILE


class RankingModel:
    """A trained booster (funnel or LambdaRank) and the feature names it expects, in order."""

    def __init__(self, booster: lgb.Booster, compiled: CompiledTrees | None = None,
                 kind: str = "lambdarank") -> None:
        self.booster = booster
        self.compiled = compiled
        self.feature_names: list[str] = list(booster.feature_name())
        # "funnel": the raw score is about the log-odds of a purchase (rules may add log prices
        # to it); "lambdarank": a score without units (the bundle manifest's training.model)
        self.kind = kind

    @property
    def score_is_log_odds(self) -> bool:
        return self.kind == "funnel"

    @property
    def scorer(self) -> str:
        return "lleaves" if self.compiled is not None else "lightgbm"

    @classmethod
    def from_text(cls, text: str) -> RankingModel:
        return cls(lgb.Booster(model_str=text))

    @classmethod
    def load(cls, path: str | Path, compiled_file: str | Path | None = None,
             kind: str = "lambdarank") -> RankingModel:
        """Load ``model.txt``; use ``compiled_file`` (lleaves) when given, present and loadable."""
        booster = lgb.Booster(model_file=str(path))
        compiled = None
        if compiled_file is not None and Path(compiled_file).exists():
            try:
                if booster.num_model_per_iteration() != 1:
                    raise ValueError("the compiled trees score one class")
                compiled = CompiledTrees.load(compiled_file, booster.num_feature())
            except Exception as exc:  # missing llvmlite, foreign architecture...
                log.warning("compiled trees unavailable (%s); scoring with LightGBM", exc)
                compiled = None
        return cls(booster, compiled, kind)

    def score(self, features: np.ndarray, num_threads: int = 1) -> np.ndarray:
        """Model score per candidate (higher ranks first)."""
        if len(features) == 0:
            return np.zeros(0)
        if self.compiled is not None:
            return self.compiled.score(features, num_threads)
        return self.booster.predict(features, num_threads=num_threads)

    def score_with_lightgbm(self, features: np.ndarray, num_threads: int = 1) -> np.ndarray:
        return self.booster.predict(features, num_threads=num_threads)

    def contributions(self, features: np.ndarray, num_threads: int = 1) -> np.ndarray:
        """(n, n_features + 1) per-feature contributions; the last column is the bias."""
        return self.booster.predict(features, pred_contrib=True, num_threads=num_threads)

    def importance(self) -> dict[str, float]:
        """Total gain per feature."""
        gains = self.booster.feature_importance(importance_type="gain")
        return dict(zip(self.feature_names, map(float, gains), strict=True))
