"""The compiled trees' call, before and after: ``python -m bench.compiled_trees BUNDLE``.

Ranks ``--requests`` pages per pipeline in process and keeps each page's feature matrix (as
:mod:`bench.hydrate_stage` keeps its candidates), compiles the bundle's ``model.txt`` with both
code models into a temporary folder (:func:`ranking.compiled_trees.compile_trees` and lleaves'
default), checks that every page scores the same to the bit each way, then prints per pipeline
the lowest of ``--rounds`` rounds' mean thread-CPU ms per page of: lleaves' ``predict`` on a fresh
float64 copy (what ``RankingModel.score`` did before), and :class:`CompiledTrees` ``score`` on
each object. ``--evict MB`` (default 8) writes that many MB between pages, as the rest of a page
does to the caches (0: hot, every page's code and data cached).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from bench.bench_serving import request_payloads
from bench.request_components import replay, stage_arguments


def _lowest(call, pages: list[np.ndarray], rounds: int, evict: np.ndarray) -> float:
    """Lowest round's mean thread-CPU ms of ``call(page)``, ``evict`` written before each page."""
    best = float("inf")
    for _ in range(rounds):
        spent = 0
        for page in pages:
            evict += 1.0
            started = time.thread_time_ns()
            call(page)
            spent += time.thread_time_ns() - started
        best = min(best, spent / len(pages) / 1e6)
    return best


def main() -> None:
    parser = stage_arguments(__doc__)
    parser.add_argument("--evict", type=float, default=8.0, help="MB written between pages")
    args = parser.parse_args()
    import lleaves

    from ranking.compiled_trees import CompiledTrees, compile_trees
    from ranking.engine import Engine
    from ranking.settings import load_settings

    payloads = request_payloads(args.bundle)
    engine = Engine.load(args.bundle, load_settings([]))
    model = next(iter(engine.pipelines.values())).model
    with tempfile.TemporaryDirectory(prefix="compiled-trees-") as work:
        text, small, large = args.bundle / "model.txt", Path(work) / "small.so", Path(work) / "large.so"
        print("compiled:", compile_trees(text, small))
        lleaves.Model(model_file=str(text)).compile(cache=str(large))
        before = lleaves.Model(model_file=str(text))
        before.compile(cache=str(large))
        after = {f"{name} (one block {trees.contiguous})": trees for name, trees in
                 (("small", CompiledTrees.load(small, model.booster.num_feature())),
                  ("large", CompiledTrees.load(large, model.booster.num_feature())))}
        evict = np.zeros(max(1, int(args.evict * 2**20 / 8)))
        for name in args.pipelines.split(","):
            pages: list[np.ndarray] = []

            def keep(features, num_threads=1, inner=model.score, pages=pages):
                pages.append(features.copy())
                return inner(features, num_threads)

            replay(engine, name, payloads, args.requests, model, "score", keep)
            want = [before.predict(np.ascontiguousarray(p, dtype=np.float64), n_jobs=1) for p in pages]
            same = all(np.array_equal(t.score(p), w)
                       for t in after.values() for p, w in zip(pages, want, strict=True))
            rows = np.mean([len(p) for p in pages])
            times = {"lleaves predict, fresh copy": _lowest(
                lambda p: before.predict(np.ascontiguousarray(p, dtype=np.float64), n_jobs=1),
                pages, args.rounds, evict)}
            times |= {label: _lowest(t.score, pages, args.rounds, evict) for label, t in after.items()}
            print(f"{name}: {len(pages)} pages, {rows:.0f} rows a page, scores identical: {same}")
            for label, ms in times.items():
                print(f"  {ms:.3f} ms  {label}")
    engine.close()


if __name__ == "__main__":
    main()
