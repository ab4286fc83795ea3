"""Thompson sampling over a pool of new products, with the placement's exact propensity.

One draw of every pool member's order-rate posterior picks the member with the highest
sampled rate (one Beta sample per member, from the request's random stream, so a page is the
same for the same seed). The propensity of each member (the probability this policy places it
in this slot) is the probability its sample is the highest of the pool,

    P(i wins) = integral of f_i(x) * prod_{j != i} F_j(x) dx,

computed by quadrature on one grid of ``grid`` points spanning every member's posterior
(mean +/- ``SPAN`` standard deviations; ``cold_start.propensity_grid``), each member's density
normalised on the grid, so the propensities sum to 1 over the pool. It replaced a Monte Carlo
estimate from 500 x pool Beta samples per slot, which was noisier (a rare pick was logged at
no less than 1/500) and slower (docs/cold_start.md has both costs); 256 points are within
about 1e-4 of the integral (tested against 400,000 draws).

Speed (issue 30): ``prod_{j != i} F_j`` is the column's product over the pool divided by
``F_i`` (each ``F`` floored at 1e-300 as before), not ``exp`` of a sum of logs: two
transcendental passes over the (pool x grid) array fewer, about 40% of a call, with the same
values to about 1e-14. A page's second slot draws from the first slot's pool less its pick
plus the next exploring candidate, usually on the same grid: :class:`PoolQuadrature` keeps each
member's density and CDF on the grid for the request, so the second slot computes one new row
instead of 30.

Across requests the same exploring products meet on the same grid (the grid spans 0 to the
widest member's upper bound, which few members set: 120 homepage pools of the demo bundle fall
on 3 grids), so the selector passes a :class:`MemberRows` shared by every request: a member's
rows by (grid, alpha, beta), computed once while they are kept. A member's rows do not depend
on the others (:func:`member_rows`), so a pool gathered from kept rows has the same floats.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from ranking.bounded_memo import BoundedMemo, read_only

SPAN = 10.0  # the grid covers each member's posterior mean +/- this many standard deviations
FLOOR = 1e-300  # a CDF below this counts as this (the product of the others stays finite)


def member_bounds(alpha: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each member's posterior mean -/+ SPAN standard deviations (what the grid spans)."""
    mean = alpha / (alpha + beta)
    sd = np.sqrt(alpha * beta / ((alpha + beta) ** 2 * (alpha + beta + 1)))
    return mean - SPAN * sd, mean + SPAN * sd


def grid_from(lo: float, hi: float, grid: int) -> np.ndarray:
    """The quadrature's ``grid`` midpoints over ``[max(lo, 0), min(hi, 1)]``."""
    lo, hi = max(lo, 0.0), min(hi, 1.0)
    step = (hi - lo) / grid
    return lo + step * (np.arange(grid) + 0.5)


def grid_points(alpha: np.ndarray, beta: np.ndarray, grid: int) -> np.ndarray:
    """The quadrature's midpoints (never 0 or 1) over every member's mean +/- SPAN sds."""
    lo, hi = member_bounds(alpha, beta)
    return grid_from(float(np.min(lo)), float(np.max(hi)), grid)


def member_rows(alpha: np.ndarray, beta: np.ndarray, x: np.ndarray,
                logs: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(each member's mass at each point of ``x``, summing to 1 over the grid; its CDF at each
    midpoint, at least half the mass there, floored at FLOOR). Row by row: a member's rows do not
    depend on the others. ``logs``: ``(log(x), log1p(-x))`` when the caller keeps them."""
    log_x, log_1mx = (np.log(x), np.log1p(-x)) if logs is None else logs
    log_pdf = (alpha - 1)[:, None] * log_x + (beta - 1)[:, None] * log_1mx
    log_pdf -= log_pdf.max(axis=1, keepdims=True)
    pdf = np.exp(log_pdf, out=log_pdf)
    pdf /= pdf.sum(axis=1, keepdims=True)
    cdf = np.cumsum(pdf, axis=1)
    cdf -= 0.5 * pdf
    return pdf, np.maximum(cdf, FLOOR, out=cdf)


def pool_wins(pdf: np.ndarray, cdf: np.ndarray) -> np.ndarray:
    """Each member's probability of the highest draw from its rows (:func:`member_rows`)."""
    wins = (pdf * (cdf.prod(axis=0) / cdf)).sum(axis=1)  # prod over j != i of F_j, times f_i
    return wins / wins.sum()


def win_probabilities(alpha: np.ndarray, beta: np.ndarray, grid: int = 256) -> np.ndarray:
    """Each Beta(alpha, beta) member's probability of the highest draw of the pool (sums to 1)."""
    alpha, beta = np.asarray(alpha, np.float64), np.asarray(beta, np.float64)
    if len(alpha) == 1:
        return np.ones(1)
    return pool_wins(*member_rows(alpha, beta, grid_points(alpha, beta, grid)))


class MemberRows:
    """:func:`member_rows` of members kept across requests, shared by request threads: each
    member's (density, CDF) rows by (grid span, points, alpha, beta), at most ``size`` members
    (2 KB a row at 256 points; the oldest out first). The key is everything a row is computed
    from, so a kept row is never stale: a member whose live counts move has another beta."""

    def __init__(self, size: int = 1024) -> None:
        self._kept: BoundedMemo[tuple, tuple[np.ndarray, np.ndarray]] = BoundedMemo(size)

    def rows(self, grid: tuple[float, float, int], x: np.ndarray, logs: tuple[np.ndarray, np.ndarray],
             alpha: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(pdf, cdf) of these members on ``x`` (the grid of span and points ``grid``, ``logs`` its
        logs): kept rows gathered, the others computed in one batch and kept (copied: a row is not
        a view holding its batch)."""
        keys = [(grid, a, b) for a, b in zip(alpha.tolist(), beta.tolist(), strict=True)]
        got = [self._kept.get(k) for k in keys]
        missing = [i for i, g in enumerate(got) if g is None]
        if missing:
            pdf, cdf = member_rows(alpha[missing], beta[missing], x, logs)
            for j, i in enumerate(missing):
                got[i] = self._kept.put(keys[i], read_only((pdf[j].copy(), cdf[j].copy())))
            if len(missing) == len(keys):
                return pdf, cdf
        return np.array([g[0] for g in got]), np.array([g[1] for g in got])

    def __len__(self) -> int:
        return len(self._kept)


class PoolQuadrature:
    """:func:`win_probabilities` for the successive pools of one request, each member's rows
    kept (by its key) while the grid stays the same. Lives for one request: a member's key must
    name the same posterior throughout.

    Kept per key: the member's span (:func:`member_bounds`, as Python floats: the grid spans their
    least and greatest, the floats ``np.min`` and ``np.max`` pick), and while the grid holds its
    density and CDF rows, one row each of two matrices gathered with one take per pool (the grid's
    logs too). A pool is then a handful of numpy calls on top of its new members' rows."""

    def __init__(self, grid: int = 256, kept: MemberRows | None = None) -> None:
        self.grid, self.kept = grid, kept  # kept: rows shared across requests (None: this one's only)
        self._bounds: dict[Hashable, tuple[float, float]] = {}
        self._span: tuple[float, float] | None = None  # the grid's (least lo, greatest hi)
        self._x: np.ndarray | None = None
        self._logs: tuple[np.ndarray, np.ndarray] | None = None
        self._at: dict[Hashable, int] = {}  # key -> its row of _pdf and _cdf (on grid _x)
        self._pdf = self._cdf = np.zeros((0, grid))

    def __call__(self, keys: Sequence[Hashable], alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
        alpha, beta = np.asarray(alpha, np.float64), np.asarray(beta, np.float64)
        if len(alpha) == 1:
            return np.ones(1)
        self._on_grid(keys, alpha, beta)
        at = self._at
        new = [i for i, k in enumerate(keys) if k not in at]
        if len(new) == len(keys):  # nothing kept: the pool's rows in one batch
            self._pdf, self._cdf = pdf, cdf = self._rows(alpha, beta)
            self._at = {k: i for i, k in enumerate(keys)}
            return pool_wins(pdf, cdf)
        if new:
            pdf, cdf = self._rows(alpha[new], beta[new])
            at.update((keys[i], len(self._pdf) + j) for j, i in enumerate(new))
            self._pdf, self._cdf = np.concatenate((self._pdf, pdf)), np.concatenate((self._cdf, cdf))
        rows = [at[k] for k in keys]
        return pool_wins(self._pdf[rows], self._cdf[rows])

    def _rows(self, alpha: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:func:`member_rows` on the pool's grid, from :attr:`kept` when given."""
        if self.kept is None:
            return member_rows(alpha, beta, self._x, self._logs)
        return self.kept.rows((*self._span, self.grid), self._x, self._logs, alpha, beta)

    def _on_grid(self, keys: Sequence[Hashable], alpha: np.ndarray, beta: np.ndarray) -> None:
        """Set the pool's grid (:func:`grid_points`' points), dropping the kept rows when it moved."""
        bounds = self._bounds
        new = [i for i, k in enumerate(keys) if k not in bounds]
        if new:
            lo, hi = member_bounds(alpha[new], beta[new])
            spans = zip(lo.tolist(), hi.tolist(), strict=True)
            bounds.update(zip([keys[i] for i in new], spans, strict=True))
        spans = [bounds[k] for k in keys]
        span = (max(min(s[0] for s in spans), 0.0), min(max(s[1] for s in spans), 1.0))
        if span != self._span:  # the points are the span's: the same span, the same points
            self._span, self._x = span, grid_from(*span, self.grid)
            self._logs, self._at = (np.log(self._x), np.log1p(-self._x)), {}

    def draw(self, keys: Sequence[Hashable], alpha: np.ndarray, beta: np.ndarray, rng: np.random.Generator
             ) -> tuple[int, np.ndarray]:
        """:func:`thompson_draw` of the pool ``keys`` (the same draw from ``rng``)."""
        if len(keys) == 1:
            return 0, np.ones(1)
        alpha, beta = np.asarray(alpha, np.float64), np.asarray(beta, np.float64)
        pick = int(np.argmax(rng.beta(alpha, beta)))
        return pick, self(keys, alpha, beta)


def thompson_draw(alpha: np.ndarray, beta: np.ndarray, rng: np.random.Generator,
                  grid: int = 256) -> tuple[int, np.ndarray]:
    """(index of the member placed, every member's propensity) for Beta(alpha, beta) posteriors."""
    alpha, beta = np.asarray(alpha, np.float64), np.asarray(beta, np.float64)
    if len(alpha) == 1:
        return 0, np.ones(1)
    pick = int(np.argmax(rng.beta(alpha, beta)))
    return pick, win_probabilities(alpha, beta, grid)
