"""Position bias (examination by slot) estimated from the logging policy's randomisation.

**What is logged.** On a share ``eps`` of the requests whose top ``R`` slots are filled,
the logging policy shuffles those ``R`` products uniformly; every impression logs its
propensity, ``(1 - eps) [shown slot = policy slot] + eps / R`` for the top ``R`` policy
slots of such *eligible* requests, and 1 elsewhere (``training/simulator/sessions.py``).
So a request that was **not** shuffled has propensity ``1 - eps + eps / R`` on all its
top ``R`` rows, and a shuffled request has ``eps / R`` on every product that left its
policy slot - at least one unless the shuffle drew the identity (probability ``1/R!``).
``shuffled_requests`` uses exactly that: the log's propensities below 1 take two values,
``low = eps / R < high = 1 - eps + eps / R``, and a request is shuffled when one of its
rows has ``low``. (Two rows at ``high`` are not enough evidence either way, and a
derangement leaves a shuffled request with ``low`` only, which is why counting distinct
values per request misses ~37% of them.) ``eps = 1 - (high - low)`` and ``R = eps / low``
are recovered and checked against the rows.

**The estimate (RandTop-R intervention harvesting).** In a shuffled request each of the
top ``R`` slots holds a uniformly drawn product of the same set, so the expected
relevance of the card at slot ``p`` does not depend on ``p``; with the examination
hypothesis ``P(click) = examination(p) x relevance``,
``CTR(p) / CTR(1) = examination(p) / examination(1)``. Only *relative* examination is
identified (an unexamined card and an uninteresting one both go unclicked), so the curve
is normalised to ``examination(1) = 1``. Clicks are counted once per card (a click row at
the card's request and slot).

**Uncertainty.** ``ci_low``/``ci_high`` is a 95% interval from the delta method on
``log CTR(p) - log CTR(1)`` with variances and the covariance of the two slots' clicks
computed across shuffled requests (clicks in one request are correlated: some shoppers
click more). Position 1 is exactly 1 by definition.

**Beyond R** nothing was randomised, so the curve there is not identified by the log;
``estimate_position_bias`` extends it with the power law ``examination = p ** -eta``
fitted (weighted least squares on ``log``, weights ``1 / se**2``) to the identified
slots 2..R, marked ``method = "power_law_extrapolation"`` with no interval. That is a
modelling assumption (true in the simulator, common in practice), not a measurement.

``propensity_weights`` turns a curve into inverse-propensity weights ``1 / examination``
for clicks at given slots.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ranking.surfaces import SURFACES
from training.stats import log_ratio_ci95

ALL = "all"
SURFACE_ORDER = SURFACES
COLUMNS = ["surface", "position", "examination", "ci_low", "ci_high", "impressions", "clicks", "method"]


def shuffled_requests(impressions: pd.DataFrame) -> tuple[np.ndarray, float, int]:
    """(ids of the requests whose top slots were shuffled, eps, R) read off the propensities."""
    for col in ("request_id", "propensity"):
        if col not in impressions:
            raise ValueError(f"impressions need a {col!r} column (see ranking/contracts/tables.py)")
    p = impressions["propensity"].to_numpy(dtype=np.float64)
    rid = impressions["request_id"].to_numpy()
    below = p < 1.0 - 1e-12
    if not below.any():
        raise ValueError("no impression has propensity < 1: the log has no randomised requests")
    levels = np.unique(np.round(p[below], 9))
    per_request = np.bincount(pd.factorize(rid[below])[0])
    top = int(np.median(per_request))
    if len(levels) == 1:
        # one level: either every eligible request was shuffled (eps = 1, level = 1/R),
        # or none was (level = 1 - eps + eps/R with no eps/R rows)
        if abs(levels[0] * top - 1.0) < 1e-6:
            return np.unique(rid[below]), 1.0, top
        raise ValueError(
            f"propensities below 1 take the single value {levels[0]:.6g}: eligible requests exist "
            "but none was shuffled, so position bias is not identified by this log"
        )
    if len(levels) > 2:
        raise ValueError(
            f"propensities below 1 take {len(levels)} values {levels[:5]}: not the top-R uniform "
            "shuffle this estimator understands"
        )
    low, high = levels
    eps = 1.0 - (high - low)
    slots = eps / low
    if abs(slots - round(slots)) > 1e-3 or round(slots) != top:
        raise ValueError(
            f"propensities {low:.6g} / {high:.6g} imply R = {slots:.3f} shuffled slots, but requests "
            f"log {top} rows below 1: not a uniform top-R shuffle"
        )
    is_low = np.abs(p - low) < 1e-9
    return np.unique(rid[is_low]), float(eps), round(slots)


def _curve_from_matrix(clicks: np.ndarray, shown: np.ndarray) -> pd.DataFrame:
    """Relative CTR by slot of an (requests x R) click matrix; ``shown`` marks real cards."""
    n_req, slots = clicks.shape
    shown_n = shown.sum(axis=0).astype(np.float64)
    click_n = clicks.sum(axis=0).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        ctr = click_n / shown_n
        # no click at slot 1: the ratio is not identified (NaN rather than inf)
        ratio = ctr / ctr[0] if click_n[0] > 0 else np.full(slots, np.nan)
        # delta method across requests on log(S_p) - log(S_1) (denominators ~ fixed)
        c = clicks.astype(np.float64)
        centred = c - c.mean(axis=0)
        cov = centred.T @ centred / max(n_req - 1, 1) * n_req
        var_log = (np.diag(cov) / click_n**2 + cov[0, 0] / click_n[0] ** 2
                   - 2 * cov[0] / (click_n * click_n[0]))
        se = np.sqrt(np.maximum(var_log, 0.0))
    low, high = log_ratio_ci95(ratio, se)
    low[0] = high[0] = 1.0
    return pd.DataFrame({
        "position": np.arange(1, slots + 1),
        "examination": ratio,
        "ci_low": low,
        "ci_high": high,
        "impressions": shown_n.astype(np.int64),
        "clicks": click_n.astype(np.int64),
        "se_log": se,
    })


def _extrapolate(curve: pd.DataFrame, max_position: int) -> pd.DataFrame:
    """Extend an identified curve (slots 1..R) to ``max_position`` with a fitted power law."""
    slots = len(curve)
    if max_position <= slots:
        return curve.iloc[:max_position]
    fit = curve.iloc[1:]
    ok = (fit.examination > 0) & np.isfinite(fit.se_log) & (fit.se_log > 0)
    if ok.sum() >= 2:
        x = np.log(fit.position[ok].to_numpy(dtype=np.float64))
        y = np.log(fit.examination[ok].to_numpy())
        w = 1.0 / fit.se_log[ok].to_numpy() ** 2
        eta = -float(np.sum(w * x * y) / np.sum(w * x * x))  # through the origin: e(1) = 1
        extra = np.arange(slots + 1, max_position + 1, dtype=np.float64) ** -eta
    else:
        extra = np.full(max_position - slots, np.nan)
    tail = pd.DataFrame({
        "position": np.arange(slots + 1, max_position + 1),
        "examination": extra,
        "ci_low": np.nan,
        "ci_high": np.nan,
        "impressions": 0,
        "clicks": 0,
        "se_log": np.nan,
        "method": "power_law_extrapolation",
    })
    return pd.concat([curve, tail], ignore_index=True)


def estimate_position_bias(impressions: pd.DataFrame, clicks: pd.DataFrame,
                           max_position: int = 20) -> pd.DataFrame:
    """Relative examination by slot, overall (``surface = "all"``) and per surface.

    ``impressions`` needs ``request_id``, ``position`` (1-based), ``propensity`` and
    optionally ``surface``; ``clicks`` needs ``request_id`` and ``position``. Returns
    one row per (surface, position 1..max_position): ``examination`` (slot 1 = 1),
    its 95% ``ci_low``/``ci_high``, the randomised ``impressions`` and ``clicks`` it
    rests on, and ``method`` (``randomised`` or ``power_law_extrapolation``, see the
    module docstring).
    """
    if max_position < 1:
        raise ValueError(f"max_position must be >= 1, got {max_position}")
    for col in ("request_id", "position"):
        if col not in impressions or col not in clicks:
            raise ValueError(f"impressions and clicks both need a {col!r} column")
    shuffled, _eps, slots = shuffled_requests(impressions)
    rid = impressions["request_id"].to_numpy()
    pos = impressions["position"].to_numpy().astype(np.int64)
    rows = np.isin(rid, shuffled) & (pos <= slots)
    rid, pos = rid[rows], pos[rows]
    surface = (impressions["surface"].to_numpy()[rows] if "surface" in impressions
               else np.full(len(rid), ALL, dtype=object))
    if len(rid) == 0:
        raise ValueError("the shuffled requests have no impressions in their shuffled slots")
    stride = int(max(pos.max(), clicks["position"].max() if len(clicks) else 0)) + 1
    click_keys = (clicks["request_id"].to_numpy().astype(np.int64) * stride
                  + clicks["position"].to_numpy().astype(np.int64))
    clicked = np.isin(rid.astype(np.int64) * stride + pos, click_keys)

    frames = []
    present = [s for s in SURFACE_ORDER if (surface == s).any()]
    present += sorted({str(s) for s in np.unique(surface)} - set(SURFACE_ORDER) - {ALL})
    for name in [ALL, *present]:
        mask = np.ones(len(rid), dtype=bool) if name == ALL else (surface == name)
        req_codes, _ = pd.factorize(rid[mask])
        n_req = int(req_codes.max()) + 1 if mask.any() else 0
        if n_req < 2:
            continue
        matrix = np.zeros((n_req, slots), dtype=np.int8)
        shown = np.zeros((n_req, slots), dtype=bool)
        shown[req_codes, pos[mask] - 1] = True
        matrix[req_codes, pos[mask] - 1] = clicked[mask]
        curve = _curve_from_matrix(matrix, shown)
        curve["method"] = "randomised"
        curve = _extrapolate(curve, max_position)
        curve.insert(0, "surface", name)
        frames.append(curve)
    if not frames:
        raise ValueError("fewer than two shuffled requests: position bias is not identified")
    return pd.concat(frames, ignore_index=True)[COLUMNS]


def estimate_from_frame(frame, max_position: int | None = None, by_surface: bool = True) -> pd.DataFrame:
    """:func:`estimate_position_bias` of a :class:`training.learning.dataset.RankingFrame` (clicks are
    grade >= 1); per surface name with ``by_surface``, else only the ``all`` curve."""
    from ranking.surfaces import SURFACE_NAMES

    impressions = pd.DataFrame({"request_id": frame.request_id,
                                "position": frame.position.astype(np.int64),
                                "propensity": frame.propensity})
    if by_surface:
        impressions["surface"] = SURFACE_NAMES[np.asarray(frame.surface).astype(np.int64)]
    clicks = impressions.loc[frame.grade >= 1, ["request_id", "position"]]
    top = int(frame.position.max()) if max_position is None else max_position
    return estimate_position_bias(impressions, clicks, max_position=top)


def propensity_weights(positions: np.ndarray, curve: pd.DataFrame, surfaces: np.ndarray | None = None,
                       max_weight: float | None = None) -> np.ndarray:
    """Inverse-propensity weights ``1 / examination(position)`` for clicks at 1-based slots.

    ``curve`` is ``estimate_position_bias``'s output (or any frame with ``position``,
    ``examination`` and optionally ``surface``). With ``surfaces`` each row uses its
    surface's curve; without, the ``"all"`` curve (or the only one). ``max_weight``
    clips the weights (variance control; biased toward low slots when it binds).
    """
    positions = np.asarray(positions).astype(np.int64)
    for col in ("position", "examination"):
        if col not in curve:
            raise ValueError(f"the curve needs a {col!r} column")
    if "surface" not in curve:
        curve = curve.assign(surface=ALL)
    names = list(dict.fromkeys(curve["surface"].astype(str)))
    if surfaces is None:
        if ALL not in names and len(names) != 1:
            raise ValueError(f"curve has surfaces {names} and no 'all' curve: pass surfaces")
        surfaces = np.full(len(positions), ALL if ALL in names else names[0], dtype=object)
    surfaces = np.asarray(surfaces).astype(str)
    if surfaces.shape != positions.shape:
        raise ValueError(f"surfaces has shape {surfaces.shape}, positions {positions.shape}")
    width = int(max(curve["position"].max(), positions.max(initial=0))) + 1
    table = np.full((len(names), width), np.nan)
    code_of = {n: i for i, n in enumerate(names)}
    table[[code_of[s] for s in curve["surface"].astype(str)],
          curve["position"].to_numpy().astype(np.int64)] = curve["examination"].to_numpy()
    unknown = sorted(set(np.unique(surfaces)) - set(names))
    if unknown:
        raise ValueError(f"no position-bias curve for surfaces {unknown}")
    if (positions < 1).any():
        raise ValueError("positions are 1-based slots")
    codes = np.array([code_of[s] for s in np.unique(surfaces)])[np.unique(surfaces, return_inverse=True)[1]]
    exam = table[codes, positions]
    bad = ~(exam > 0)
    if bad.any():
        missing = sorted(set(zip(surfaces[bad].tolist(), positions[bad].tolist(), strict=True)))[:5]
        raise ValueError(f"the curve has no positive examination for (surface, position) {missing}")
    weights = 1.0 / exam
    if max_weight is not None:
        weights = np.minimum(weights, max_weight)
    return weights
