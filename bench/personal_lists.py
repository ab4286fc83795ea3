"""What ``personal``'s per-bundle lists cost to build: ``python -m bench.personal_lists BUNDLE``.

Loads the bundle's homepage recall (``recall/homepage``) and computes every shopper's ``personal``
list as the build does (:meth:`ranking.recall.taste_lists.TasteLists.compute`, ``k`` the bundle's
``personal`` quota, bounded by settings ``recall.personal_lists_mb``), once per thread count; prints
as JSON the CPU and wall seconds, the lists' bytes (what a worker holds) and how many shoppers have
one. ``--check N`` compares N shoppers' kept lists (evenly spread over the user rows; 0 = every one)
with the service's scan (``Personal.search`` on one faiss thread) and counts those that differ.

``--write`` also saves the lists into the bundle's ``recall/homepage`` folder and lists their
SHA-256 in its manifest: how an existing bundle (built before the lists, or with
``recall.personal_lists_mb=0``) gets them. Write into a copy, never a bundle a service is loading.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import faiss
import numpy as np

from ranking.bundle import MANIFEST, _sha256
from ranking.recall.homepage import HomepageRecall
from ranking.recall.homepage_sources.personal import Personal
from ranking.recall.taste_lists import LISTS_FILE, META_FILE, TasteLists
from ranking.recall.vector_index import set_search_threads
from ranking.settings import load_settings


def differing(recall: HomepageRecall, kept: TasteLists, rows: np.ndarray) -> dict:
    """How many of the shoppers ``rows`` have a kept list other than the scan's (one faiss thread)."""
    faiss.omp_set_num_threads(1)
    set_search_threads(1)
    scan = next(s for s in recall.components if isinstance(s, Personal))
    compared = differ = 0
    for row in rows.tolist():
        context = recall.shopper.fresh(int(recall.user_ids[row]), 12)
        got = kept.of(row, kept.k)
        if not len(context.recent_items) or got is None:
            continue
        compared += 1
        differ += not np.array_equal(recall.index.ids[got], scan.search(context, kept.k))
    return {"compared": compared, "differ": differ}


def write(bundle: Path, kept: TasteLists) -> None:
    """The lists into the bundle's homepage folder, their hashes into its manifest."""
    folder = bundle / "recall" / "homepage"
    kept.save(folder)
    manifest_file = bundle / MANIFEST
    manifest = json.loads(manifest_file.read_text())
    for name in (LISTS_FILE, META_FILE):
        manifest.setdefault("files", {})[str((folder / name).relative_to(bundle))] = _sha256(folder / name)
    manifest_file.write_text(json.dumps(manifest, indent=2, ensure_ascii=False, default=float))


def measure(bundle: Path, threads: list[int], check: int | None = None, save: bool = False) -> dict:
    recall = HomepageRecall.load(bundle / "recall" / "homepage")
    k = int(recall.quotas.get("personal", 0))
    max_mb = load_settings([]).recall.personal_lists_mb
    runs, kept = [], None
    for n in threads:
        cpu, wall = time.process_time(), time.perf_counter()
        kept = TasteLists.compute(recall.index, recall.a, k, max_mb * 1e6, threads=n)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        runs.append({"threads": n, "cpu_s": round(cpu, 2), "wall_s": round(wall, 2), "bytes": kept.nbytes,
                     "shoppers": int(kept.meta["shoppers"])})
    out = {"bundle": str(bundle), "users": len(recall.user_ids), "kind": recall.index.kind, "k": k,
           "max_mb": max_mb, "runs": runs}
    if kept is not None and check is not None:
        users = len(recall.user_ids)
        rows = np.arange(users) if check == 0 else \
            np.unique(np.linspace(0, users - 1, check).astype(np.int64))
        out["check"] = differing(recall, kept, rows)
    if kept is not None and save:
        write(bundle, kept)
        out["written"] = str(bundle / "recall" / "homepage" / LISTS_FILE)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--threads", default="1,2", help="thread counts, comma-separated")
    parser.add_argument("--check", type=int, default=None,
                        help="compare this many shoppers' lists with the scan (0 = every shopper)")
    parser.add_argument("--write", action="store_true", help="save the lists into the bundle (a copy)")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.bundle, [int(t) for t in args.threads.split(",")], args.check, args.write)))


if __name__ == "__main__":
    main()
