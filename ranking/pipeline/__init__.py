"""The ranking pipeline: candidate sources, feature hydration, scoring, rules, placement.

A search page and a homepage are two configurations of the same small components
(:mod:`ranking.pipeline.pipeline`): sources recall candidates, the feature registry
hydrates them, the model scores them (never dropping or reordering), filters remove what
must not be shown and say why (:mod:`ranking.pipeline.filters`, one per file), adjusters
move scores by explicit business rules (:mod:`ranking.pipeline.adjusters`), and the
selector orders and places the page with its policies run in sequence
(:mod:`ranking.pipeline.selectors`: fixed subsidy slots, new-store exploration, store
diversity). Every stage records its time.
"""

from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.pipeline import Pipeline, PipelineResult

__all__ = ["CandidateSet", "Pipeline", "PipelineResult", "RankRequest"]
