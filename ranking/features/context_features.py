"""Context features: the time-slot theme in force, the surface, the hour."""

from __future__ import annotations

import numpy as np

from ranking.features.inputs import FeatureInputs
from ranking.features.registry import feature


@feature("theme_match", "context", "1 if the product's category is the time-slot theme now",
         default=0.0,
         label="matches the hour's theme", unit="flag")
def theme_match(x: FeatureInputs) -> np.ndarray:
    theme = x.snapshot.leaf_theme_slot[np.maximum(x.leaf, 0)]
    return ((theme == x.slot) & (x.leaf >= 0)).astype(np.float32)


@feature("surface", "context", "0 search, 1 homepage, 2 channel", default=0.0,
         label="page kind", unit="surface")
def surface(x: FeatureInputs) -> np.ndarray:
    return x.surface.astype(np.float32)


@feature("hour", "context", "local hour of day, 0-23", default=12.0,
         label="hour of day", unit="hour")
def hour(x: FeatureInputs) -> np.ndarray:
    return x.hour.astype(np.float32)
