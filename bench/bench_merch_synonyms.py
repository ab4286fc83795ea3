"""``make bench``: search p50/p99 with 10,000 operator synonym sets (idle, and firing) vs none.

The measurement is :mod:`bench.merch_synonyms` (its docstring says how the sets and queries
are built) on the default-scale bundle, 300 queries, first-time pages and (``repeated_*``) the same
queries asked again with their recall kept, three more engines loaded after the first three are
released; the result is also written to ``bench/out/merch_synonyms.json``.
"""

from __future__ import annotations

import json

from bench.context import BenchContext
from bench.merch_synonyms import run


def bench(ctx: BenchContext) -> dict:
    result = run(ctx.bundle("default"), 10_000, 300, ctx.seed)
    (ctx.work_dir / "merch_synonyms.json").write_text(json.dumps(result, indent=1, ensure_ascii=False))
    return {k: v for k, v in result.items() if k != "bundle"}
