"""Ranking features: one registry, one snapshot, one path for training and serving.

``build_inputs(snapshot, product_ids, request_of_row, requests)`` then
``compute_features(inputs)`` gives the model's matrix in ``schema()`` order.
"""

from ranking.features.inputs import FeatureInputs, Requests, build_inputs
from ranking.features.registry import (
    GROUPS,
    compute_features,
    feature_names,
    features,
    schema,
    schema_differences,
    schema_hash,
)
from ranking.features.snapshot import FeatureSnapshot

__all__ = [
    "GROUPS",
    "FeatureInputs",
    "FeatureSnapshot",
    "Requests",
    "build_inputs",
    "compute_features",
    "feature_names",
    "features",
    "schema",
    "schema_differences",
    "schema_hash",
]
