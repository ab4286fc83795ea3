"""``make bench``: search and homepage p50/p99 with 1,000 operator rules in force vs none.

The measurement is :mod:`bench.merch_rules` (its docstring says what the rules and requests
are) on the default-scale bundle; the result is also written to ``bench/out/merch_rules.json``.
"""

from __future__ import annotations

import json

from bench.context import BenchContext
from bench.merch_rules import run


def bench(ctx: BenchContext) -> dict:
    result = run(ctx.bundle("default"))
    (ctx.work_dir / "merch_rules.json").write_text(json.dumps(result, indent=1))
    return result
