"""``python -m bench.reliability``: run the reliability checks and write docs/reliability.md.

Runs the fault, bad-input and security tests (they record their figures when
``SHELFRANK_RELIABILITY_OUT`` is set), the soak (``bench.soak``: sustained load at
saturation) and the overload run (``bench.overload``: 16, 64 and 256 connections past
saturation, memory over 100 reloads), then writes the figures — load held, faults survived, bad inputs tried,
events lost — into ``docs/reliability.md``. Anyone can rerun it; it takes about
10 minutes here (most of it the 100k-request soak; ``--soak-requests`` shortens it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bench.context import REPO

TESTS = [
    "tests/test_service_process.py",
    "tests/test_service_fuzz.py",
    "tests/test_service.py",
    "tests/test_bundle.py",
    "tests/test_event_log.py",
    "tests/test_event_plausibility.py",
    "tests/test_secrets.py",
    "tests/test_admission.py",
    "tests/test_connection_limits.py",
    "tests/test_reload_safety.py",
    "tests/test_serving_auth.py",
    "tests/test_live_redis_service.py",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--soak-requests", type=int, default=100_000)
    parser.add_argument("--scale", default="default")
    parser.add_argument("--overload-seconds", type=float, default=15.0)
    parser.add_argument("--bundle", help="bundle for the overload run (default: the scale's)")
    parser.add_argument("--reloads", type=int, default=100, help="reloads under load (bench.reload_memory)")
    parser.add_argument("--out", default=str(REPO / "docs" / "reliability.md"))
    args = parser.parse_args()
    figures_dir = Path(tempfile.mkdtemp(prefix="shelfrank-reliability-"))
    env = {**os.environ, "SHELFRANK_RELIABILITY_OUT": str(figures_dir)}
    junit = figures_dir / "junit.xml"
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            f"--junitxml={junit}", *TESTS], cwd=REPO, env=env)
    soak_file = figures_dir / "soak.json"
    soak = subprocess.run([sys.executable, "-m", "bench.soak", "--scale", args.scale, "--requests",
                           str(args.soak_requests), "--out", str(soak_file)], cwd=REPO)
    overload_file = figures_dir / "overload.json"
    where = ["--bundle", args.bundle] if args.bundle else ["--scale", args.scale]
    overload = subprocess.run([sys.executable, "-m", "bench.overload", *where, "--seconds",
                               str(args.overload_seconds), "--out", str(overload_file)], cwd=REPO)
    reloads = subprocess.run([sys.executable, "-m", "bench.reload_memory", *where, "--reloads",
                              str(args.reloads), "--out", str(figures_dir / "reload_memory.json")], cwd=REPO)
    figures = {p.stem: json.loads(p.read_text()) for p in figures_dir.glob("*.json") if p.stem != "soak"}
    soak_result = json.loads(soak_file.read_text()) if soak_file.exists() else {}
    text = render(figures, soak_result, junit, tests.returncode, soak.returncode)
    text += render_overload(figures.get("overload", {}), figures, overload.returncode)
    text += render_reload_memory(figures.get("reload_memory", {}), reloads.returncode)
    Path(args.out).write_text(text)
    print(text)
    return 0 if tests.returncode == soak.returncode == overload.returncode == reloads.returncode == 0 else 1


def _junit_counts(junit: Path) -> tuple[int, int, int]:
    import xml.etree.ElementTree as ET

    if not junit.exists():
        return 0, 0, 0
    root = ET.parse(junit).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    total = int(suite.get("tests", 0))
    failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
    skipped = int(suite.get("skipped", 0))
    return total, failed, skipped


def fuzz_totals(figures: dict) -> dict:
    """The fuzz's groups (``fuzz_GROUP`` figures, one test each) added up; {} when none ran."""
    groups = [f for name, f in figures.items() if name.startswith("fuzz_")]
    if not groups:
        return {}
    return {key: sum(g[key] for g in groups) for key in ("operations", "cases", "server_errors")}


def render(figures: dict, soak: dict, junit: Path, tests_rc: int, soak_rc: int) -> str:
    total, failed, skipped = _junit_counts(junit)
    k9 = figures.get("kill9_events", {})
    reload_ = figures.get("reload_under_load", {})
    fuzz = fuzz_totals(figures)
    torn = figures.get("event_log_torn_write", {})
    moved = figures.get("event_log_rotation", {})
    removed = figures.get("event_log_deletion", {})
    poison = figures.get("poisoning", {})
    unauth = figures.get("ingestion_auth", {})
    burst = figures.get("ingestion_auth_burst", {})
    redis_down = figures.get("live_redis_stopped_mid_load", {})
    lines = [
        "# Reliability",
        "",
        f"Produced by `python -m bench.reliability` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC "
        f"({os.cpu_count()} CPUs). Rerun it to refresh every figure below.",
        "",
        "| what | figure |",
        "|---|---|",
        f"| reliability tests run | {total} ({failed} failed, {skipped} skipped) |",
        f"| load held (soak) | {soak.get('requests', 'not run'):,} requests in {soak.get('seconds', '?')} s "
        f"at {soak.get('rps', '?')} req/s, {soak.get('workers', '?')} workers, "
        f"{soak.get('connections', '?')} connections |" if soak else "| load held (soak) | not run |",
        f"| soak errors | {soak.get('failed', '?')} failed, {soak.get('shed_503', '?')} shed with 503 by "
        f"backpressure (of {soak.get('non_2xx', '?')} non-2xx); socket errors: "
        f"{soak.get('socket_errors') or 'none'} |" if soak else "| soak errors | not run |",
        f"| soak latency | p50 {soak.get('p50_ms', '?')} ms, p99 {soak.get('p99_ms', '?')} ms |"
        if soak else "| soak latency | not run |",
        f"| memory over the soak | {soak.get('rss_mb_after_warmup', '?')} MB after warm-up -> "
        f"{soak.get('rss_mb_end', '?')} MB at the end ({100 * soak.get('rss_growth', 0):+.2f}%) |"
        if soak else "| memory | not run |",
        f"| kill -9 during ingestion | {k9.get('acknowledged', '?')} events acknowledged, "
        f"**{k9.get('lost', '?')} lost** ({k9.get('workers', '?')} workers) |",
        f"| reload under load | {reload_.get('requests', '?')} requests during reloads, "
        f"{reload_.get('failed', '?')} failed; corrupt/foreign bundle refused, old one kept serving |",
        f"| bad input (schemathesis) | {fuzz.get('cases', '?')} generated requests over "
        f"{fuzz.get('operations', '?')} operations, {fuzz.get('server_errors', '?')} 5xx |",
        f"| torn write (disk fills mid-write, then frees) | {torn.get('partial_writes', '?')} partial "
        f"write(s) truncated back, {torn.get('acknowledged', '?')} events acknowledged, "
        f"**{torn.get('lost', '?')} lost, {torn.get('unreadable', '?')} unreadable** |",
        f"| log rotated (mv of the file, of its folder) under the writer | {moved.get('rotations', '?')} "
        f"rotation(s), **{moved.get('lost_after_rotation', '?')} events lost** |",
        f"| log deleted (rm) under the writer | {removed.get('deletions', '?')} deletion(s), logged and "
        f"counted; **{removed.get('lost_after_reopen', '?')} events lost** after it (those in the deleted "
        "file go with it) |",
        f"| poisoning attempts (issue 24's list) | {poison.get('refused', '?')} of "
        f"{poison.get('attempts', '?')} refused with a 422 naming the field |",
        f"| unauthenticated or wrong-token writes (tokens set) | {unauth.get('refused', '?')} of "
        f"{unauth.get('unauthenticated', '?')} refused (401/403), nothing written |",
        f"| a flood from one client (issue 24: 100,000 clicks at once) | {burst.get('posted', '?'):,} "
        f"posted, {burst.get('accepted', '?'):,} accepted (the burst), {burst.get('refused', '?'):,} "
        "refused with 429 and Retry-After |" if burst else "| a flood from one client | not run |",
        f"| Redis (the live state) stopped under ranking load, 2 workers | {redis_down.get('requests')} "
        f"ranking requests, **{redis_down.get('failed')} failed** (frozen pages, p99 "
        f"{redis_down.get('p99_ms')} ms); the events posted meanwhile live "
        f"{redis_down.get('seconds_to_live_again')} s after it was back |" if redis_down
        else "| Redis stopped under ranking load | not run |",
        "",
        "Also checked by the same tests (pass/fail above): a full disk on the event log answers 503",
        "with Retry-After while ranking keeps serving; start-up without a bundle answers /readyz 503",
        "with the reason; a corrupted, truncated or schema-mismatched bundle is refused with the",
        "reason; oversized bodies get 413 before parsing; admin endpoints need the bearer token",
        "(constant-time comparison, 401/403); bundle paths cannot escape the models directory;",
        "nothing is unpickled from disk; CORS is closed unless `serving.cors_origins` is set; the",
        "admin token appears in no file a training run writes, nor in /v1/bundle; a crash's torn",
        "tail is quarantined on open; writes stop at the free-space watermark; merge-events names",
        "every bad line's file:line and flags a burst or a crowd's instant funnel (docs/security.md).",
        "",
        f"Exit codes: tests {tests_rc}, soak {soak_rc}.",
        "",
    ]
    return "\n".join(lines)


def render_overload(overload: dict, figures: dict, rc: int) -> str:
    """The backpressure, attack and reload-memory rows (issue 24, defects 5-8)."""
    lines = ["## Overload, slow clients and reloads", "",
             f"`python -m bench.overload` ({overload.get('workers', '?')} workers, bundle "
             f"{overload.get('bundle', '?')}; a Python client on the same cores, so req/s is a floor):",
             "", "| connections | answered req/s | shed (503) | admitted p50 | admitted p99 | other |",
             "|---|---|---|---|---|---|"]
    for row in overload.get("python", []):
        other = {**row["other_statuses"], **({"client errors": row["client_errors"]}
                                             if row["client_errors"] else {})}
        lines.append(f"| {row['connections']} | {row['rps']} | {100 * (row['shed_share'] or 0):.1f}% | "
                     f"{row['admitted_p50_ms']} ms | {row['admitted_p99_ms']} ms | {other or 'none'} |")
    if overload.get("wrk"):
        lines += ["", "The same levels driven by wrk (its percentiles cover every answer, admitted "
                  "and shed):",
                  "", "| connections | req/s | 503 share | p50 (all) | p99 (all) | socket errors |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {r['connections']} | {r['rps']} | {100 * r['non_2xx_share']:.1f}% | "
                  f"{r['all_p50_ms']} ms | {r['all_p99_ms']} ms | {r['socket_errors'] or 'none'} |"
                  for r in overload["wrk"]]
    mem = overload.get("reload_memory", {})
    header = figures.get("header_flood", {})
    slow_h, slow_b = figures.get("slow_header", {}), figures.get("slow_body", {})
    term = figures.get("sigterm_stalled_body", {})
    lines += ["", "| what | figure |", "|---|---|",
              f"| memory over {mem.get('reloads', '?')} reloads (one process, after gc) | "
              f"{mem.get('rss_mb_after_5', '?')} MB after 5 -> {mem.get('rss_mb_end', '?')} MB at the end "
              f"({mem.get('growth_mb', '?')} MB), max {mem.get('rss_mb_max', '?')} MB |",
              f"| unfinished header flood ({header.get('sent_mb', '?')} MB on one connection) | "
              f"{header.get('status', '?')} at the {header.get('cap_bytes', '?')}-byte cap, "
              "connection closed |",
              f"| header sent half, never finished | 408 and closed after "
              f"{slow_h.get('closed_after_s', '?')} s (deadline {slow_h.get('deadline_s', '?')} s) |",
              f"| body stalled mid-way | 408 and closed after {slow_b.get('answered_408_after_s', '?')} s "
              f"(deadline {slow_b.get('deadline_s', '?')} s) |",
              f"| SIGTERM with a stalled body open | /readyz 503 while draining, exited after "
              f"{term.get('exited_after_s', '?')} s (drain {term.get('drain_s', '?')} s) |",
              "", f"Exit code: overload {rc}.", ""]
    return "\n".join(lines)


def render_reload_memory(mem: dict, rc: int) -> str:
    """Each worker's memory over many reloads under load (issue 24, defect 7)."""
    load = mem.get("load", {})
    lines = ["## Memory over reloads under load", "",
             f"`python -m bench.reload_memory`: {mem.get('reloads', '?')} reloads alternating two copies "
             f"of bundle {mem.get('bundle', '?')} at {mem.get('workers', '?')} workers while "
             f"{mem.get('connections', '?')} connections post `/v1/rerank` ({load.get('driver', '?')}: "
             f"{load.get('answered', '?')} answered, {load.get('non_2xx', load.get('failed', '?'))} non-2xx, "
             f"socket errors: {load.get('socket_errors') or 'none'}); reloads not seen by every worker "
             f"within 30 s: {mem.get('reloads_not_seen_by_every_worker_in_30s', '?')}; respawned workers: "
             f"{mem.get('respawned_workers', '?')}.", "",
             "| worker | RSS before reloads | after 5 | at the end | growth after 5 | max | every 10 |",
             "|---|---|---|---|---|---|---|"]
    before = mem.get("rss_mb_before_reloads", {})
    for w in mem.get("per_worker", []):
        lines.append(f"| {w['pid']} | {before.get(str(w['pid']), '?')} MB | {w['rss_mb_after_5']} MB | "
                     f"{w['rss_mb_end']} MB | {w['growth_mb']:+} MB | {w['rss_mb_max']} MB | "
                     f"{', '.join(str(x) for x in w['every_10'])} |")
    return "\n".join([*lines, "", f"Exit code: reload_memory {rc}.", ""])


if __name__ == "__main__":
    raise SystemExit(main())
