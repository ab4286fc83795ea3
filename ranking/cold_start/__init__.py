"""Cold start: who is new, each new product's Beta posterior with a leaf-category prior, the
Thompson-sampling draw that gives an exploration slot (and its logged propensity), and the
stage each new product is in (docs/cold_start.md).

Pure numpy/scipy over the bundle's snapshot and, when the service has one, the live state's
counters; the selector that places the slots is
:mod:`ranking.pipeline.selectors.cold_start`.
"""

from ranking.cold_start.bandit import thompson_draw, win_probabilities
from ranking.cold_start.newness import new_products
from ranking.cold_start.posterior import LeafRates, Posteriors, posteriors
from ranking.cold_start.stages import EXPLORING, GRADUATED, RETIRED, STAGES, stages
from ranking.cold_start.view import ColdStartView, LeafRateCache, cold_start_view

__all__ = ["EXPLORING", "GRADUATED", "RETIRED", "STAGES", "ColdStartView", "LeafRateCache", "LeafRates",
           "Posteriors", "cold_start_view", "new_products", "posteriors", "stages", "thompson_draw",
           "win_probabilities"]
