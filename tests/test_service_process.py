"""The service as a real process: several workers, kill -9 during ingestion, reload under load."""

from __future__ import annotations

import os
import signal
import threading
import time

import httpx2
import pytest
from conftest import record_reliability
from service_process import background_load, start_service, stop_service

pytestmark = pytest.mark.slow
OPERATOR = {"Authorization": "Bearer s3cret"}  # start_service sets serving.admin_token=s3cret: writes need it


def _click(i: int) -> dict:
    return {"clicks": [{"request_id": i, "timestamp": 1788256800000 + i, "user_id": 1,
                        "product_id": i % 50, "position": 1}]}


def test_acknowledged_events_survive_kill_9_with_two_workers(small_models, tmp_path):
    from ranking.event_log import read_event_log

    proc, url = start_service(small_models, tmp_path / "events", workers=2)
    acknowledged: set[int] = set()
    lock = threading.Lock()
    stop = threading.Event()

    def sender(offset: int) -> None:
        with httpx2.Client(base_url=url, timeout=5) as client:
            i = offset
            while not stop.is_set():
                try:
                    r = client.post("/v1/events", json=_click(i), headers=OPERATOR)
                except httpx2.HTTPError:
                    return
                if r.status_code == 200:
                    with lock:
                        acknowledged.add(i)
                i += 4

    threads = [threading.Thread(target=sender, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    deadline = time.time() + 30
    while len(acknowledged) < 300 and time.time() < deadline:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole server: master and both workers
    stop.set()
    for t in threads:
        t.join()
    proc.wait()
    logged = read_event_log(tmp_path / "events").tables["clicks"]
    ids = set(logged.column("request_id").to_pylist())
    assert len(acknowledged) >= 300, "the load ran"
    record_reliability("kill9_events", acknowledged=len(acknowledged), logged=len(ids),
                       lost=len(acknowledged - ids), workers=2)
    assert acknowledged <= ids, f"lost {len(acknowledged - ids)} acknowledged events"
    files = list((tmp_path / "events" / "clicks").glob("*.jsonl"))
    assert 1 <= len(files) <= 2, "each worker appends to its own file"


def test_reload_under_load_fails_no_request_and_reaches_every_worker(small_models, tmp_path):
    import shutil

    proc, url = start_service(small_models, tmp_path / "events", workers=2)
    try:
        second = small_models / "copy-of-latest"
        if not second.exists():
            shutil.copytree((small_models / "latest").resolve(), second)
        body = {"surface": "homepage", "candidates": list(range(1, 120))}
        auth = {"Authorization": "Bearer s3cret"}
        with background_load(url, "/v1/rerank", body, timeout=10) as load:
            r = httpx2.post(f"{url}/admin/reload", json={"bundle": str(second)}, headers=auth, timeout=60)
            assert r.status_code == 200, r.text
            bad = small_models / "broken"
            bad.mkdir(exist_ok=True)
            r = httpx2.post(f"{url}/admin/reload", json={"bundle": str(bad)}, headers=auth, timeout=60)
            assert r.status_code == 409
            # the other worker follows the control file (poll 0.2 s, then a full load and verify):
            # keep the load on until every worker serves the copy, at most 60 s on a busy machine
            deadline = time.time() + 60
            paths: set[str] = set()
            while time.time() < deadline:
                paths = set()
                for _ in range(20):  # new connections land on either worker
                    with httpx2.Client(base_url=url, timeout=5) as fresh:
                        paths.add(fresh.get("/readyz", headers=auth).json()["bundle_path"])
                if paths == {str(second.resolve())}:
                    break
                time.sleep(0.5)
        record_reliability("reload_under_load", requests=load.served, failed=len(load.failures),
                           bad_bundle_refused=True)
        assert load.failures == []
        assert paths == {str(second.resolve())}
    finally:
        stop_service(proc, signal.SIGKILL)
