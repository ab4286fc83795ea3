"""Platform scores from raw events: store experience score, product score, price advantage,
returning-customer index (four dimensions), creator reputation and governance flags
(docs/scores.md)."""

from ranking.scores.compute import (
    PlatformScores,
    compute_scores,
    compute_scores_from_tables,
    end_of_data_ms,
)

__all__ = ["PlatformScores", "compute_scores", "compute_scores_from_tables", "end_of_data_ms"]
