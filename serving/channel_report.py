"""``shelfrank channels pacing``: a running service's subsidy-channel pacing report, as a table.

:func:`fetch_pacing` asks ``GET /v1/channel/subsidy/pacing`` (the operator token when the service
has one) and :func:`pacing_lines` writes one line per brand: promise, delivered today, due by
now, pacing error (docs/channels.md).
"""

from __future__ import annotations


class PacingReportError(RuntimeError):
    """The service did not answer the report (unreachable, refused, or not a service)."""


def fetch_pacing(url: str, token: str | None, timeout: float = 30.0) -> dict:
    """The pacing report of the service at ``url``."""
    import httpx2

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        r = httpx2.get(f"{url.rstrip('/')}/v1/channel/subsidy/pacing", headers=headers, timeout=timeout)
    except httpx2.HTTPError as exc:
        raise PacingReportError(f"{url}: {exc}") from exc
    if r.status_code != 200:
        raise PacingReportError(f"GET /v1/channel/subsidy/pacing: {r.status_code} {r.text[:300]}")
    return r.json()


def pacing_lines(report: dict) -> list[str]:
    """The report as text: a header, one line per brand, the mean absolute pacing error."""
    lines = [f"subsidy channel pacing at minute {report['minute_of_day']:.0f} of the mall's day "
             f"({report['due_share']:.1%} of the promise due, {report['curve']} curve)"
             + ("" if report["live"] else "; no live state: nothing counted, pacing off"),
             f"{'brand':>8} {'promise':>8} {'delivered':>10} {'due':>8} {'error':>8}"]
    for b in report["brands"]:
        error = "-" if b["pacing_error"] is None else f"{b['pacing_error']:+.1%}"
        lines.append(f"{b['brand_id']:>8} {b['promise']:>8} {b['delivered']:>10} {b['due']:>8.1f} {error:>8}")
    mean = report["mean_abs_pacing_error"]
    lines.append("mean |pacing error|: " + ("-" if mean is None else f"{mean:.1%}"))
    return lines
