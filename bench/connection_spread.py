"""How 16 keep-alive connections spread over two workers: ``python -m bench.connection_spread BUNDLE``.

Starts the service on ``BUNDLE`` with two workers (``--set`` passes settings, e.g.
``serving.connection_balance=false`` for uvicorn's own spread), then ``--runs`` times opens 16
connections at once with wrk (search pages of six queries, ``--seconds`` each) and samples every
0.25 s how many established connections the busier worker holds. Prints one JSON line a
run: the samples (8 is even), the busier worker's count at the end, and wrk's requests/s. Each
worker ranks one page at a time, so a worker holding most connections queues their pages while
the other idles (docs/serving.md, "Connections spread over the workers"). Needs ``wrk``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import tempfile
import time
from contextlib import suppress
from pathlib import Path

import psutil

from shelfrank.local_service import start_service, stop_service

SCRIPT = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local qs = {"大米", "phone", "cooking oil", "rice cooker", "cordless drill", "平板电脑"}
local i = 0
request = function()
  i = i + 1
  return wrk.format(nil, "/v1/search", nil,
    '{"query": "' .. qs[(i % #qs) + 1] .. '", "user_id": ' .. (i % 500) .. ', "page_size": 20}')
end
"""


def worker_connections(master: int, port: int) -> list[int]:
    """Each worker's established connections on ``port``, ascending, as the kernel has them: the
    workers are the processes under ``master`` listening on the port (not multiprocessing's
    helper)."""
    counts = []
    for child in psutil.Process(master).children(recursive=True):
        with suppress(psutil.Error):
            mine = [c for c in child.net_connections(kind="tcp") if c.laddr and c.laddr.port == port]
            if any(c.status == psutil.CONN_LISTEN for c in mine):
                counts.append(sum(c.status == psutil.CONN_ESTABLISHED for c in mine))
    return sorted(counts)


def busier(master: int, port: int) -> int:
    """The established connections the busier worker of the service ``master`` on ``port`` holds."""
    return max(worker_connections(master, port), default=0)


def spread(master: int, url: str, script: Path, seconds: int) -> dict:
    """One wrk run of 16 connections, sampled every 0.25 s."""
    port = int(url.rsplit(":", 1)[1])
    wrk = subprocess.Popen(["wrk", "-t2", "-c16", f"-d{seconds}s", "-s", str(script), url],
                           stdout=subprocess.PIPE, text=True)
    samples = []
    while True:
        time.sleep(0.25)
        count = busier(master, port)
        if wrk.poll() is not None:  # taken after wrk closed its connections
            break
        samples.append(count)
    out = wrk.communicate()[0]
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return {"busier_worker": samples, "at_end": samples[-1] if samples else 0,
            "rps": float(rps.group(1)) if rps else 0.0}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--set", action="append", default=[], dest="sets", help="a setting (shelfrank --set)")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print(json.dumps({"skipped": "wrk is not installed (apt-get install wrk)"}))
        return
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "search.lua"
        script.write_text(SCRIPT)
        proc, url = start_service(args.bundle.parent, Path(tmp) / "events", workers=2, bundle=args.bundle,
                                  extra=["serving.write_rate_per_second=0", *args.sets])
        try:
            time.sleep(3)  # both workers past their first pages' set-up
            for run in range(args.runs):
                print(json.dumps({"run": run, **spread(proc.pid, url, script, args.seconds)}), flush=True)
        finally:
            stop_service(proc)


if __name__ == "__main__":
    main()
