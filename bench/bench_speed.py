"""``make bench``: issue 30's speed goals over HTTP with everything on, on the default bundle.

The measurement is :mod:`bench.speed` (its docstring says what is on and what is driven); the
result is also written to ``bench/out/speed/speed.json`` beside the flame graphs
(``flame-search.svg``, ``flame-homepage.svg``, ``flame-rerank.svg``, from ``py-spy`` when it
is installed: it is a dev dependency). The one-worker pages run twice: with the bench's
repeating shoppers and queries, and with every request a shopper and a query not seen before
(``first_visit_*`` keys, :func:`bench.speed.first_visits`), since the service keeps results per
shopper and per query.
"""

from __future__ import annotations

import json

from bench.context import BenchContext
from bench.speed import first_visits, run


def bench(ctx: BenchContext) -> dict:
    out = ctx.work_dir / "speed"
    result = run(ctx.bundle("default"), out)
    if "skipped" not in result:  # and every page again with shoppers and queries never seen before
        result.update(first_visits(ctx.bundle("default"), out / "first-visit"))
    if out.is_dir():
        (out / "speed.json").write_text(json.dumps(result, indent=1))
    return result
