"""How a feature's value reads to a merchant: each unit a registry feature can declare
(``@feature(..., unit=...)``) and the one formatter that turns a raw value into text.

Some features are stored transformed for the model (``sales_velocity`` is
``log(1 + units/day)``, ``log_price`` the log of the price): their unit undoes the
transform, so the explanation shows units per day and yuan, not logs. A missing value
reads "missing".
"""

from __future__ import annotations

import math

from ranking.surfaces import SURFACES

UNITS: dict[str, str] = {
    "score": "a 0-100 score (percentile or points)",
    "percent": "a share 0-1, shown as a percentage",
    "signed_percent": "a signed share, shown as +/- percent",
    "flag": "1 yes, 0 no",
    "count": "a count",
    "log1p_count": "log(1 + a count), shown as the count",
    "log1p_per_day": "log(1 + a rate per day), shown as the rate per day",
    "log_yuan": "log of a price in yuan, shown in yuan",
    "log_ratio": "a log ratio, shown as a multiple (x1.25)",
    "stars": "a rating, 1-5 stars",
    "surface": "0 search, 1 homepage, 2 channel",
    "hour": "an hour of day, 0-23",
    "minutes": "minutes",
    "ratio": "a ratio, 1 = steady",
    "number": "a plain number (an index with no natural unit)",
}


def _count(x: float) -> str:
    return f"{x:,.0f}" if abs(x - round(x)) < 0.05 else f"{x:,.1f}"


def format_value(value: float | None, unit: str) -> str:
    """The value as a merchant reads it, in ``unit`` (one of :data:`UNITS`)."""
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}; units: {sorted(UNITS)}")
    if value is None or math.isnan(value):
        return "missing"
    x = float(value)
    text = {
        "score": lambda: f"{x:.0f}/100",
        "percent": lambda: f"{100 * x:.1f}%",
        "signed_percent": lambda: f"{100 * x:+.1f}%",
        "flag": lambda: "yes" if x >= 0.5 else "no",
        "count": lambda: _count(x),
        "log1p_count": lambda: _count(math.expm1(x)),
        "log1p_per_day": lambda: f"{math.expm1(x):.2f}/day",
        "log_yuan": lambda: f"¥{math.exp(x):,.2f}",
        "log_ratio": lambda: f"x{math.exp(x):.2f}",
        "stars": lambda: f"{x:.1f}/5",
        "surface": lambda: SURFACES[round(x)] if 0 <= round(x) < len(SURFACES) else f"{x:g}",
        "hour": lambda: f"{int(x) % 24:02d}:00",
        "minutes": lambda: f"{x:,.0f} min",
        "ratio": lambda: f"x{x:.2f}",
        "number": lambda: f"{x:.3g}",
    }[unit]
    return text()
