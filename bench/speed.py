"""Issue 30's speed goals over HTTP with everything on: ``python -m bench.speed BUNDLE --out DIR``.

The service (``shelfrank serve``, live state ``embedded``, store diversity on as by default)
serves ``BUNDLE`` with a book of 1,000 operator rules and 10,000 synonym sets imported through
``POST /v1/merchandising/import`` (the rules of :mod:`bench.merch_rules`, the sets of
:mod:`bench.merch_synonyms`: every catalog word in two sets, so every search rewrites), and
every shopper of the payloads first gets ``CLICKS_PER_SHOPPER`` live clicks (the live arm
reads a real history). Then:

1. **One worker, one connection** (wrk, ``SHELFRANK_BENCH_HTTP_SECONDS`` each): p50/p99 of
   search (Zipf-distributed frequent title words, a fifth filtered to a category, so rules
   and synonyms fire), homepage, rerank of 500 candidates and the no-op endpoint (parses the
   rerank body, ranks nothing), and each page's p99 as a multiple of the no-op's. Beside them,
   ``<page>_service_cpu_ms``: the service process's CPU (every thread: the page, the event
   loop, the live state's background work on the page's exposures) over the run, per request,
   and ``<page>_thread_cpu_ms``: the same split by what each thread does (the page threads,
   the event loop, the recall pool, the live tail, the followers: :mod:`bench.thread_cpu`).
   Goal: search, homepage and rerank-500 p99 <= 5 ms.
2. **A flame graph per page** (``py-spy record``, when installed): the worker sampled while
   wrk drives that page, written as ``DIR/flame-<page>.svg`` (and speedscope JSON).
3. **Two workers, 16 connections**, the three pages mixed in turn: requests per second, p99
   and how many answers were shed (503). wrk's percentiles cover every answer; with none shed
   they are the admitted requests' p99, and ``mixed_2w_c16_service_cpu_ms`` is both workers'
   CPU per request, ``mixed_2w_c16_busier_worker_connections`` the busier worker's connections of
   the 16, 2 s and 6 s into the run (8: even). Goal: >= 600 requests/s with admitted p99 < 50
   ms. ``--two-workers-only --backend redis`` runs it with the live state on a private
   ``redis-server``.

**Repeating or new shoppers and queries.** By default the pages cycle through 50 shoppers (search:
200 bodies, 54 distinct Zipf-drawn frequent-word queries), so the results the service keeps per
shopper and per query text hit on every measured request: the one-worker run posts each body once
first (:func:`warm`, ``warm_up_requests`` in the JSON), as the mixed run warms up, so none of its
pages is a first visit (before stop 55 the first pass was measured: at 1M its 54 first-time queries,
whose p99 is ~25 ms against ~7.6 repeated, set the search p99). ``--distinct N`` (or
``SHELFRANK_BENCH_DISTINCT=N``) makes every measured request a shopper and a query not seen before:
N bodies per page from :func:`bench.bench_serving.request_payloads`' drawing (what
``bench.request_components --distinct`` uses), no shopper in two pages and no query twice
(:func:`distinct_bodies`); the mixed run's measured requests start after its warm-up's. With
``--distinct`` the one-worker search, homepage and rerank runs stop at their last body (each posted
once; a stopped run's requests/s is 1 / its mean latency, since wrk waits out the seconds, and its
service CPU a request takes in the idle rest's background wakeups too: the 1M run's no-op, stop 56,
read 0.004 ms a request on the followers and the live tail at 2,046 requests/s, ~8 ms of CPU a
second); the no-op, the mixed run and the flame graphs go round the bodies (so the distinct run's
flame graphs profile second visits). The JSON says which case ran (``payloads``,
``payloads_per_page``) and, per run, whether every measured request was new
(``<page>_every_request_new``, ``mixed_2w_c16_every_request_new``: false once wrk wrapped around).

The 1M-product goal (search p99 <= 10 ms) is :mod:`bench.bench_large`'s serving stage, which runs
the one-worker part of this on the large bundle.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path
from typing import Any

import httpx2
import numpy as np
import psutil

from bench.bench_live_cost import ADMIN, give_live_clicks
from bench.bench_serving import SECONDS, STATUS_COUNTER, request_payloads, run_wrk, wrk_script
from bench.connection_spread import busier
from bench.merch_rules import build_book, frequent_words, requests
from bench.merch_synonyms import synonym_sets
from bench.thread_cpu import by_role, py_spy, thread_names, thread_seconds
from shelfrank.local_service import start_service, stop_service

RULES, SYNONYMS = 1000, 10_000
PAGES = {"search": "/v1/search", "homepage": "/v1/homepage", "rerank": "/v1/rerank", "noop": "/v1/noop"}
GOAL_P99_MS = 5.0
GOALS = {page: GOAL_P99_MS for page in ("search", "homepage", "rerank")}  # the default mall's (issue 30)
WARM_SECONDS = 5  # before the two-worker run: the second worker compiles the imported book meanwhile
DISTINCT = int(os.environ.get("SHELFRANK_BENCH_DISTINCT", "0"))  # 0: the repeating payloads


def distinct_bodies(bundle: Path, per_page: int) -> dict[str, list[dict]]:
    """``per_page`` bodies per page, each a shopper no other body has (on any page) and, for
    search, a query no other search has: :func:`bench.bench_serving.request_payloads`' drawing,
    its repeats skipped, the first ``per_page`` kept draws to search, the next to homepage, the
    next to rerank (and the no-op). ValueError when the bundle has too few shoppers."""
    drawn = request_payloads(bundle, count=4 * per_page)
    users, queries, kept = set(), set(), []
    for i, search in enumerate(drawn["search"]):
        if search["user_id"] in users or search["query"] in queries:
            continue
        users.add(search["user_id"])
        queries.add(search["query"])
        kept.append(i)
    if len(kept) < 3 * per_page:
        raise ValueError(f"{bundle} gives only {len(kept)} distinct shoppers and queries in "
                         f"{4 * per_page} draws; {3 * per_page} are needed for --distinct {per_page}")
    bodies = {page: [drawn[page][i] for i in kept[n * per_page:(n + 1) * per_page]]
              for n, page in enumerate(("search", "homepage", "rerank"))}
    bodies["noop"] = bodies["rerank"]
    return bodies


def workload(bundle: Path, synonyms: int = SYNONYMS, distinct: int = 0) -> tuple[dict, dict[str, list[dict]]]:
    """(the merchandising file to import, the request bodies per page); ``synonyms`` sets;
    ``distinct`` > 0: :func:`distinct_bodies` instead of the repeating bodies.

    Drawn in a child process (:func:`drawn_workload`): the engine loaded to draw them never lives
    in the caller's, which for ``bench.request_components --app`` and ``bench.http_path`` is the
    measured app's. There its warm-up's pages left their entries in the per-table memos that live
    for the process (``ranking/pipeline/derived_columns.py``), newest, so every lookup of the app's
    pages met the gone engine's entry before its own."""
    with tempfile.TemporaryDirectory(prefix="speed-workload-") as folder:
        out = Path(folder) / "workload.pickle"
        code = ("import pickle, sys; from pathlib import Path; from bench.speed import drawn_workload; "
                "Path(sys.argv[1]).write_bytes(pickle.dumps(drawn_workload(Path(sys.argv[2]), "
                "int(sys.argv[3]), int(sys.argv[4]))))")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p or os.getcwd() for p in sys.path)}
        subprocess.run([sys.executable, "-c", code, str(out), str(bundle), str(synonyms), str(distinct)],
                       check=True, env=env)
        return pickle.loads(out.read_bytes())


def drawn_workload(bundle: Path, synonyms: int = SYNONYMS, distinct: int = 0
                   ) -> tuple[dict, dict[str, list[dict]]]:
    """:func:`workload`'s answer, drawn in this process (an engine loaded, then closed)."""
    from ranking.engine import Engine
    from ranking.settings import load_settings

    engine = Engine.load(bundle, load_settings([]))
    try:
        words = frequent_words(engine)
        book = build_book(engine, words)
        rules = [{**r.model_dump(mode="json", exclude_none=True), "id": f"r-{r.id}"} for r in book.rules]
        sets = [{**s.model_dump(mode="json", exclude_none=True), "id": f"s-{s.id}"}
                for s in synonym_sets(engine, synonyms)]
        payloads = request_payloads(bundle)
        users = [p["user_id"] for p in payloads["homepage"]]
        search = [{"query": b["query"], "user_id": users[i % len(users)], "page_size": 20,
                   **({"filters": {"category_id": b["category_id"]}} if b["category_id"] is not None else {})}
                  for i, b in enumerate(requests(engine, words)["search"][:200])]
    finally:
        engine.close()
    bodies = distinct_bodies(bundle, distinct) if distinct else \
        {"search": search, "homepage": payloads["homepage"], "rerank": payloads["rerank"],
         "noop": payloads["rerank"]}
    return {"format": 1, "rules": rules, "synonyms": sets}, bodies


def _strip(rule_or_set: dict) -> dict:
    return {k: v for k, v in rule_or_set.items() if k not in {"author", "created_ms", "updated_ms"}}


def prepare(url: str, book: dict, bodies: dict[str, list[dict]], products: np.ndarray) -> dict:
    """Import the book, check every rule and set is in force, give the shoppers live clicks."""
    file = {"format": 1, "rules": [_strip(r) for r in book["rules"]],
            "synonyms": [_strip(s) for s in book["synonyms"]]}
    r = httpx2.post(f"{url}/v1/merchandising/import?mode=replace", json=file, headers=ADMIN, timeout=300)
    r.raise_for_status()
    rules = httpx2.get(f"{url}/v1/rules?active=true", headers=ADMIN, timeout=60).json()
    synonyms = httpx2.get(f"{url}/v1/synonyms", headers=ADMIN, timeout=60).json()
    in_force = {"rules_active": len(rules["rules"]), "synonym_sets": len(synonyms["synonyms"])}
    give_live_clicks(url, {"homepage": bodies["homepage"], "search": bodies["search"]}, products)
    return in_force


def mixed_script(bodies: dict[str, list[dict]], folder: Path, rounds: int = 50, start: int = 0,
                 name: str = "mixed") -> Path:
    """A wrk script posting search, homepage and rerank bodies in turn (``rounds`` of each),
    counting non-200s; it begins after the first ``start`` calls."""
    rows = [(PAGES[p], b) for i in range(rounds) for p in ("search", "homepage", "rerank")
            for b in [bodies[p][i % len(bodies[p])]]]
    lines = ["calls = {"] + [f"  {{{json.dumps(path)}, {json.dumps(json.dumps(b))}}}," for path, b in rows]
    lines += ["}", f"i = {start % len(rows)}", 'wrk.headers["Content-Type"] = "application/json"',
              "request = function()", "  i = i % #calls + 1",
              '  return wrk.format("POST", calls[i][1], nil, calls[i][2])', "end", STATUS_COUNTER]
    script = folder / f"{name}.lua"
    script.write_text("\n".join(lines))
    return script


def flame(pid: int, url: str, script: Path, out: Path, seconds: int) -> str:
    """Sample the service (and its workers) with py-spy while wrk drives one page."""
    spy = py_spy()
    if spy is None:
        return "skipped: py-spy is not installed (pip install py-spy)"
    record = subprocess.Popen([spy, "record", "--pid", str(pid), "--subprocesses", "--rate", "250",
                               "--duration", str(seconds), "--format", "flamegraph", "--output", str(out)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1)
    run_wrk(url, script, 1, seconds)
    _, err = record.communicate(timeout=seconds + 60)
    return str(out) if out.exists() else f"failed: {err.decode()[-300:]}"


def service_cpu_seconds(pid: int) -> float:
    """The service's CPU seconds so far: its process and every worker under it, every thread
    (the pages, the event loop, the live state's background threads)."""
    total = 0.0
    root = psutil.Process(pid)
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def driven(pid: int, url: str, script: Path, connections: int, threads: bool = False) -> dict:
    """wrk's figures plus the service's CPU ms per answered request over the same run: the
    whole process's cost of a page, which bounds what a core can serve; ``threads``: also that
    CPU split by what each thread does (``thread_cpu_ms``, :mod:`bench.thread_cpu`)."""
    before, per_thread = service_cpu_seconds(pid), thread_seconds(pid) if threads else None
    out = run_wrk(url, script, connections)
    out["cpu_ms_per_request"] = round(1000 * (service_cpu_seconds(pid) - before) / max(out["requests"], 1), 3)
    if per_thread is not None:
        out["thread_cpu_ms"] = by_role(per_thread, thread_seconds(pid), thread_names(pid), out["requests"])
    return out


@contextmanager
def busier_sampled(pid: int, url: str, at: tuple[float, ...] = (2.0, 6.0)) -> Iterator[list[int]]:
    """The busier worker's established connections (of the service ``pid``'s workers, on ``url``'s
    port), sampled ``at`` these seconds into the block: they move only when the balance closes one,
    which settles in under a second, and sampling often would take CPU from the run."""
    port, samples, stop = int(url.rsplit(":", 1)[1]), [], threading.Event()

    def sample() -> None:
        waited = 0.0
        for when in at:
            if stop.wait(when - waited):
                return
            waited = when
            with suppress(psutil.Error):
                samples.append(busier(pid, port))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()


def payload_case(distinct: int) -> dict:
    """Which payloads a run measured, for its JSON (module docstring)."""
    return {"payloads": "distinct" if distinct else "repeating",
            "payloads_per_page": distinct or 50}  # repeating: request_payloads' 50 (search: 200 queries)


def warm(client: Any, bodies: dict[str, list[dict]]) -> int:
    """Post every search, homepage and rerank body once (the no-op's are rerank's and keep
    nothing; ``client``: an httpx client on the service's base URL), each answer a 200 or an
    error: the repeating run then measures pages whose shoppers and queries the service has
    served, as the mixed run measures after its warm-up. Without it the run's first pass over the
    bodies was measured too (54 first-time queries among the 200 search bodies: at 1M they set the
    search p99); first visits are their own run
    (:func:`first_visits`). Returns the requests posted."""
    posted = 0
    for page in ("search", "homepage", "rerank"):
        for body in bodies[page]:
            answer = client.post(PAGES[page], json=body)
            if answer.status_code != 200:
                raise RuntimeError(f"warming {page}: {answer.status_code} {answer.text[:300]}")
            posted += 1
    return posted


def one_worker(bundle: Path, book: dict, bodies: dict, work: Path, out_dir: Path, distinct: int = 0,
               goals: dict[str, float] | None = None) -> dict:
    """The one-worker pages (module docstring); each page of ``goals`` (default :data:`GOALS`)
    judged against its p99 goal (``<page>_p99_goal_ms``, ``<page>_p99_goal_met``)."""
    products = np.unique(np.concatenate([b["candidates"] for b in bodies["rerank"]]))
    proc, url = start_service(bundle.parent, work / "events-1", workers=1, bundle=bundle,
                              extra=["live.backend=embedded", "serving.write_rate_per_second=0"])
    try:
        out: dict = prepare(url, book, bodies, products)
        if not distinct:  # distinct bodies are each measured once, new: no warm-up may see them
            with httpx2.Client(base_url=url, timeout=120) as client:
                out["warm_up_requests"] = warm(client, bodies)
        for page, path in PAGES.items():
            # distinct bodies: each posted once (a fast page answers more than FIRST_VISITS in the
            # run's seconds); the no-op has no shopper or query to be new
            once = bool(distinct) and page != "noop"
            script = wrk_script(path, bodies[page], work, count_statuses=True, once=once)
            low = driven(proc.pid, url, script, 1, True)
            out[f"{page}_p50_ms"], out[f"{page}_p99_ms"] = low["p50_ms"], low["p99_ms"]
            out[f"{page}_service_cpu_ms"] = low["cpu_ms_per_request"]
            out[f"{page}_thread_cpu_ms"] = low["thread_cpu_ms"]
            # a run stopped at its last body still lasts the run's seconds (wrk's main thread sleeps
            # them), so wrk's requests/s would count the idle rest: one connection is a closed loop,
            # one request sent as the last is answered, so its rate is 1 / the mean latency (a
            # little above the true one: wrk's few microseconds between an answer and the next send)
            stopped = once and low["requests"] >= len(bodies[page])  # else wrk ran its whole seconds
            rps = round(1000.0 / low["mean_ms"], 2) if stopped else low["rps"]
            out[f"{page}_rps_c1"], out[f"{page}_non_200"] = rps, sum(low["statuses"].values())
            out[f"{page}_requests_c1"] = low["requests"]
            out[f"{page}_every_request_new"] = bool(distinct) and low["requests"] <= len(bodies[page])
        for page in ("search", "homepage", "rerank"):
            out[f"{page}_p99_vs_noop"] = round(out[f"{page}_p99_ms"] / out["noop_p99_ms"], 1)
        for page, goal in (GOALS if goals is None else goals).items():
            out[f"{page}_p99_goal_ms"] = goal
            out[f"{page}_p99_goal_met"] = out[f"{page}_p99_ms"] <= goal
        for page in ("search", "homepage", "rerank"):
            out[f"flame_{page}"] = flame(proc.pid, url, wrk_script(PAGES[page], bodies[page], work),
                                         out_dir / f"flame-{page}.svg", SECONDS)
        return out
    finally:
        stop_service(proc)


def two_workers(bundle: Path, book: dict, bodies: dict, work: Path, distinct: int = 0,
                backend: str = "embedded") -> dict:
    """The mixed run at two workers and 16 connections, the live state on ``backend`` (``redis``:
    a private ``redis-server``, as :mod:`bench.live_backends` starts it)."""
    from bench.bench_live_state import private_redis

    with private_redis() if backend == "redis" else nullcontext() as redis_url:
        sets = [f"live.backend={backend}", "serving.write_rate_per_second=0"]
        if redis_url is not None:
            sets += [f"live.redis_url={redis_url}", "live.redis_prefix=bench-speed:"]
        proc, url = start_service(bundle.parent, work / "events-2", workers=2, bundle=bundle, extra=sets)
        return _mixed(proc, url, book, bodies, work, distinct)


def _mixed(proc: subprocess.Popen, url: str, book: dict, bodies: dict, work: Path, distinct: int) -> dict:
    """Prepare the started service (book, clicks), warm both workers, then measure the mixed run."""
    products = np.unique(np.concatenate([b["candidates"] for b in bodies["rerank"]]))
    try:
        prepare(url, book, bodies, products)
        time.sleep(WARM_SECONDS)  # the other worker follows the book (compiling its indexes) and the clicks
        rounds = distinct or 50
        warm = run_wrk(url, mixed_script(bodies, work, rounds), 16, WARM_SECONDS)  # not counted: both
        # workers' first pages; with distinct bodies the measured run begins where the warm-up stopped
        start = warm["requests"] if distinct else 0
        with busier_sampled(proc.pid, url) as spread:
            high = driven(proc.pid, url, mixed_script(bodies, work, rounds, start, "mixed-measured"), 16)
        return {"mixed_2w_c16_every_request_new": bool(distinct) and start + high["requests"] <= 3 * rounds,
                "mixed_2w_c16_rps": high["rps"], "mixed_2w_c16_p50_ms": high["p50_ms"],
                "mixed_2w_c16_service_cpu_ms": high["cpu_ms_per_request"],
                "mixed_2w_c16_p99_ms": high["p99_ms"], "mixed_2w_c16_requests": high["requests"],
                "mixed_2w_c16_shed_503": high["statuses"].get("503", 0),
                "mixed_2w_c16_other_non_200": sum(n for c, n in high["statuses"].items() if c != "503"),
                # the busier worker's connections of 16, 2 s and 6 s into the run (8: even;
                # docs/serving.md, "Connections spread over the workers")
                "mixed_2w_c16_busier_worker_connections": spread,
                "mixed_2w_goal_met": high["rps"] >= 600 and high["p99_ms"] < 50
                and not high["statuses"]}
    finally:
        stop_service(proc)


def run(bundle: Path, out_dir: Path, two: bool = True, distinct: int = 0,
        goals: dict[str, float] | None = None) -> dict:
    """The whole measurement (module docstring; ``two=False`` leaves out the two-worker run;
    ``distinct`` > 0: every measured request a new shopper and query; ``goals``: the one-worker
    pages' p99 goals, default :data:`GOALS`); flame graphs go to ``out_dir``."""
    if shutil.which("wrk") is None:
        return {"skipped": "wrk is not installed (apt-get install wrk)"}
    out_dir.mkdir(parents=True, exist_ok=True)
    book, bodies = workload(bundle, distinct=distinct)
    out: dict = {"bundle": bundle.resolve().name, "rules": len(book["rules"]),
                 "synonym_sets": len(book["synonyms"]), "seconds_per_run": SECONDS, **payload_case(distinct)}
    with tempfile.TemporaryDirectory() as tmp:
        out.update(one_worker(bundle, book, bodies, Path(tmp), out_dir, distinct, goals))
        if two:
            out.update(two_workers(bundle, book, bodies, Path(tmp), distinct))
    return out


FIRST_VISITS = 2000  # bodies per page of make bench's first-visit run: each posted once, so a page
# answering more than 250 a second in the run's 8 s is measured over its first 2,000 (stop 56's 1M
# run, before the scripts stopped at the last body, went round: homepage 2,140, rerank 2,512)


def first_visits(bundle: Path, out_dir: Path, per_page: int = FIRST_VISITS,
                 goals: dict[str, float] | None = None) -> dict:
    """The one-worker pages again with every measured request a new shopper and query
    (``distinct``), their keys prefixed ``first_visit_``: what ``make bench`` and the 1M bench
    record beside the repeating run, so a kept result is never the only case reported."""
    got = run(bundle, out_dir, two=False, distinct=per_page, goals=goals)
    return {f"first_visit_{k}": v for k, v in got.items() if k not in ("bundle", "rules", "synonym_sets")}


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--out", type=Path, default=Path("bench/out/speed"))
    parser.add_argument("--two-workers-only", action="store_true", help="only the two-worker mixed run")
    parser.add_argument("--backend", choices=("embedded", "redis"), default="embedded",
                        help="--two-workers-only: the live state's backend (redis: a private redis-server)")
    parser.add_argument("--distinct", type=int, default=DISTINCT, metavar="N",
                        help="N bodies per page, every measured request a shopper and a query not seen "
                             "before (default SHELFRANK_BENCH_DISTINCT, else 0: 50 repeating shoppers)")
    return parser.parse_args(argv)


def main() -> None:
    args = arguments()
    if args.two_workers_only:
        book, bodies = workload(args.bundle, distinct=args.distinct)
        with tempfile.TemporaryDirectory() as tmp:
            result = {**payload_case(args.distinct), "live_backend": args.backend,
                      **two_workers(args.bundle, book, bodies, Path(tmp), args.distinct, args.backend)}
        args.out.mkdir(parents=True, exist_ok=True)
    else:
        result = run(args.bundle, args.out, distinct=args.distinct)
    (args.out / "speed.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
