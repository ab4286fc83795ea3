"""The shelf-mall simulator: a generative model of a mall with a latent truth (docs/simulator.md).

``simulate(out_dir, SimulatorSettings(...))`` writes every contract table plus
``truth/``; ``Truth.load(out_dir)`` is the oracle.
"""

from training.simulator.run import SimulationSummary, simulate
from training.simulator.truth import Truth

__all__ = ["SimulationSummary", "Truth", "simulate"]
