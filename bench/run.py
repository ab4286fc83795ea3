"""Run every benchmark (``bench/bench_*.py``), each in its own process; write the results.

``python -m bench.run`` writes ``bench/results.json`` (machine, time, and per benchmark its
metrics plus its wall seconds and peak memory) and ``bench/results.md`` (a readable table).
``--only NAME`` runs one; scales come from settings ``bench.scales``
(``SHELFRANK_BENCH__SCALES='["small","default","large"]'`` for the 1M-product run).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.context import REPO, BenchContext
from ranking.settings import load_settings

FIRST = ["bench_simulator"]


def discover() -> list[str]:
    names = sorted(p.stem for p in (REPO / "bench").glob("bench_*.py"))
    return [n for n in FIRST if n in names] + [n for n in names if n not in FIRST]


def context() -> BenchContext:
    settings = load_settings()
    shared = (REPO / settings.paths.shared_datasets).resolve()
    work = REPO / settings.bench.out_dir
    work.mkdir(parents=True, exist_ok=True)
    return BenchContext(work, list(settings.bench.scales), shared if shared.is_dir() else None)


def run_one(name: str, out: Path) -> None:
    """Child process: run one module's ``bench(ctx)`` and write its metrics as JSON."""
    module = importlib.import_module(f"bench.{name}")
    metrics = module.bench(context())
    out.write_text(json.dumps(metrics, indent=2, default=float))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", help="run just this benchmark (e.g. bench_simulator)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_one(args.child, Path(args.child_out))
        return 0

    settings = load_settings()
    results_path = REPO / settings.bench.results
    previous = json.loads(results_path.read_text()) if results_path.exists() else {}
    results = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "finished_at": None,
        "scales": list(settings.bench.scales),
        "benchmarks": dict(previous.get("benchmarks", {})) if args.only else {},
    }
    names = [args.only] if args.only else discover()
    failed = []
    for name in names:
        print(f"== {name}", flush=True)
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
            out = Path(tmp.name)
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.run", "--child", name, "--child-out", str(out)], cwd=REPO
        )
        _, status, usage = os.wait4(proc.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        entry: dict = {"wall_seconds": round(time.perf_counter() - started, 2),
                       "peak_mb_self": round(usage.ru_maxrss / 1024, 1)}
        if code == 0:
            entry["metrics"] = json.loads(out.read_text())
        else:
            entry["error"] = f"exited with {code}"
            failed.append(name)
        out.unlink(missing_ok=True)
        results["benchmarks"][name.removeprefix("bench_")] = entry
        print(json.dumps(entry, indent=2), flush=True)
    results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    results_path.write_text(json.dumps(results, indent=2))
    results_path.with_suffix(".md").write_text(render_table(results))
    print(f"wrote {results_path} and {results_path.with_suffix('.md')}")
    return 1 if failed else 0


def render_table(results: dict) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Finished {results['finished_at']} on {results['machine']['cpus']} CPUs, "
        f"Python {results['machine']['python']}; scales: {', '.join(results['scales'])}.",
        "",
        "| benchmark | metric | value |",
        "|---|---|---|",
    ]
    for name, entry in results["benchmarks"].items():
        lines.append(f"| {name} | wall seconds (whole benchmark) | {entry['wall_seconds']} |")
        if "error" in entry:
            lines.append(f"| {name} | error | {entry['error']} |")
        for key, value in entry.get("metrics", {}).items():
            shown = f"{value:,.3f}" if isinstance(value, float) else value
            lines.append(f"| {name} | {key} | {shown} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
