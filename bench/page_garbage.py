"""What a page leaves to the cyclic GC: ``python -m bench.page_garbage BUNDLE [--requests N]``.

Loads the bundle as the service does, ranks a few warm-up pages per pipeline (homepage, search,
rerank) on :mod:`bench.bench_serving`'s payloads, then ranks ``--requests`` more with the
collector saving what it finds (``gc.DEBUG_SAVEALL``) and prints, per pipeline, the objects per
page that only the cyclic GC could free, by type. Whatever is listed waits for a collection
instead of being freed when the page is done; the service raises the GC's thresholds, so it
piles up for thousands of pages and is freed all at once inside some request.
``tests/test_page_cycles.py`` keeps a page's draft, caps, candidate set and arrays off the list.
"""

from __future__ import annotations

import argparse
import gc
from collections import Counter
from pathlib import Path

from bench.bench_serving import request_payloads
from bench.request_components import payload_request


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    from ranking.engine import Engine
    from ranking.settings import load_settings

    payloads = request_payloads(args.bundle)
    engine = Engine.load(args.bundle, load_settings([]))

    def request(pipeline: str, i: int):
        return payload_request(engine, payloads, pipeline, i)

    try:
        for pipeline in ("homepage", "search", "rerank"):
            for i in range(20):
                engine.rank(pipeline, request(pipeline, i))
        gc.collect()
        gc.freeze()
        gc.set_debug(gc.DEBUG_SAVEALL)
        for pipeline in ("homepage", "search", "rerank"):
            gc.collect()
            gc.garbage.clear()
            for i in range(args.requests):
                engine.rank(pipeline, request(pipeline, i))
            gc.collect()
            kinds = Counter(type(o).__qualname__ for o in gc.garbage)
            per_page = ", ".join(f"{kind} {n / args.requests:.1f}" for kind, n in kinds.most_common(12))
            print(f"{pipeline}: {len(gc.garbage) / args.requests:.1f} objects per page left to the cyclic GC"
                  f"{': ' + per_page if per_page else ''}")
            gc.garbage.clear()
    finally:
        gc.set_debug(0)
        engine.close()


if __name__ == "__main__":
    main()
