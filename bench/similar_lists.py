"""What ``similar``'s per-bundle lists cost to build: ``python -m bench.similar_lists BUNDLE``.

Loads the bundle's homepage item index (``recall/homepage/faiss``) and computes every non-zero
item's nearest as the build does (:meth:`ranking.recall.vector_index.VectorIndex.keep_neighbours`,
``k`` the ``similar`` quota plus its seeds), once per thread count; prints as JSON the CPU and wall
seconds, the lists' bytes (what a worker holds) and how many items have one.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ranking.recall.homepage_sources.similar import SIMILAR_SEEDS
from ranking.recall.vector_index import VectorIndex


def measure(bundle: Path, threads: list[int]) -> dict:
    folder = bundle / "recall" / "homepage"
    index = VectorIndex.load(folder / "faiss")
    quotas = json.loads((folder / "quotas.json").read_text())
    k = int(quotas.get("similar", 0)) + SIMILAR_SEEDS
    runs = []
    for n in threads:
        index.neighbours = None
        cpu, wall = time.process_time(), time.perf_counter()
        index.keep_neighbours(k, threads=n)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        kept = index.neighbours
        arrays = () if kept is None else (kept.rows, kept.lists, kept.strict)
        runs.append({"threads": n, "cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
                     "bytes": sum(int(a.nbytes) for a in arrays),
                     "lists": 0 if kept is None else int((kept.rows >= 0).sum())})
    return {"bundle": str(bundle), "items": index.size, "kind": index.kind, "k": k, "runs": runs}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--threads", default="1,2", help="thread counts, comma-separated")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.bundle, [int(t) for t in args.threads.split(",")])))


if __name__ == "__main__":
    main()
