"""Readiness tells the truth and a reload is all-or-nothing (issue 24, defect 8).

Before this change ``/readyz`` stayed 200 after ``rm -rf`` of the served bundle, and a
reload whose control file could not be written (a full events disk) had already swapped
the taking worker: a 500, the workers split across two bundles and a stray
``.serving.<pid>.tmp`` left behind. Both tests below failed there.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

from fastapi.testclient import TestClient

from ranking.settings import load_settings
from serving import supervisor as control_module  # where the control file is written (os.replace)
from serving.app import create_app

AUTH = {"Authorization": "Bearer s3cret"}


def _models_with_two_bundles(small_models: Path, root: Path) -> Path:
    models = root / "models"
    models.mkdir()
    real = (small_models / "latest").resolve()
    shutil.copytree(real, models / "first")
    shutil.copytree(real, models / "second")
    return models


def _client(models: Path, events: Path) -> TestClient:
    settings = load_settings([f"serving.bundle={models / 'first'}", f"serving.events_dir={events}",
                              "serving.admin_token=s3cret"])
    return TestClient(create_app(settings))


def test_readyz_turns_503_when_the_served_bundle_is_removed_from_disk(small_models, tmp_path):
    models = _models_with_two_bundles(small_models, tmp_path)
    with _client(models, tmp_path / "events") as client:
        assert client.get("/readyz").status_code == 200
        shutil.rmtree(models / "first")
        r = client.get("/readyz")
        assert r.status_code == 503, r.text
        assert "gone from disk" in r.json()["reason"]
        r = client.post("/admin/reload", json={"bundle": "second"}, headers=AUTH)
        assert r.status_code == 200, r.text
        assert client.get("/readyz").status_code == 200


def test_a_reload_that_cannot_be_recorded_swaps_nothing_and_leaves_no_temp_file(
        small_models, tmp_path, monkeypatch):
    models = _models_with_two_bundles(small_models, tmp_path)
    events = tmp_path / "events"
    with _client(models, events) as client:
        before = client.get("/readyz", headers=AUTH).json()["bundle_path"]
        control_before = (events / ".serving.json").read_text() if (events / ".serving.json").exists() \
            else None

        real_replace = control_module.os.replace

        def disk_full_for_the_control_file(src, dst, *args, **kwargs):
            if str(dst).endswith(".serving.json"):
                raise OSError(errno.ENOSPC, "No space left on device")
            return real_replace(src, dst, *args, **kwargs)

        with monkeypatch.context() as patched:
            patched.setattr(control_module.os, "replace", disk_full_for_the_control_file)
            r = client.post("/admin/reload", json={"bundle": "second"}, headers=AUTH)
        assert r.status_code == 503, r.text
        assert "still serves" in r.json()["detail"] and r.headers["retry-after"]
        assert client.get("/readyz", headers=AUTH).json()["bundle_path"] == before  # this worker did not swap
        control_after = (events / ".serving.json").read_text() if (events / ".serving.json").exists() \
            else None
        assert control_after == control_before  # so no other worker will either
        assert list(events.glob(".serving.*.tmp")) == []
        r = client.post("/admin/reload", json={"bundle": "second"}, headers=AUTH)  # space is back
        assert r.status_code == 200, r.text
        assert client.get("/readyz", headers=AUTH).json()["bundle_path"] == str((models / "second").resolve())
        assert client.post("/v1/rerank", json={"surface": "homepage",
                                               "candidates": list(range(1, 50))}).status_code == 200


def _workers(proc) -> list[int]:
    kids = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    return [int(k) for k in kids if "resource_tracker" not in Path(f"/proc/{k}/cmdline").read_text()]


def _readiness(url: str, n: int = 12) -> set[int]:
    """/readyz over ``n`` fresh connections, so both workers answer."""
    import httpx2

    codes = set()
    for _ in range(n):
        with httpx2.Client(base_url=url, timeout=10) as fresh:
            codes.add(fresh.get("/readyz").status_code)
    return codes


def test_after_kill_9_every_worker_agrees_with_the_bundle_on_disk(small_models, tmp_path):
    """A killed worker is respawned with the bundle before it answers; once the bundle folder
    is removed every worker, respawned or not, says 503 (before: the survivor said 200 and
    the respawned one 503, alternating on one port)."""
    import os
    import signal
    import time

    from shelfrank.local_service import start_service, stop_service

    models = _models_with_two_bundles(small_models, tmp_path)
    proc, url = start_service(models, tmp_path / "events", workers=2, bundle=models / "first")
    try:
        os.kill(_workers(proc)[-1], signal.SIGKILL)
        for _ in range(8):
            assert _readiness(url) == {200}  # the respawned worker took no traffic before loading
            time.sleep(0.5)
        shutil.rmtree(models / "first")
        os.kill(_workers(proc)[-1], signal.SIGKILL)
        time.sleep(3)  # the respawned worker fails to load the removed bundle and starts unready
        assert _readiness(url) == {503}
    finally:
        stop_service(proc, signal.SIGKILL)


def _state(models: Path, events: Path):
    from serving.state import ServiceState

    return ServiceState(load_settings([f"serving.bundle={models / 'first'}", f"serving.events_dir={events}"]))


def test_a_reload_recorded_while_a_worker_still_loads_its_first_bundle_is_followed(small_models, tmp_path):
    """With two workers the service is ready once one answers: a reload can land there while the
    other still loads its first bundle. That worker must follow it once loaded (before: it took
    the control file written during its load as already seen and served the old bundle for good;
    CI caught it as test_reload_under_load_fails_no_request_and_reaches_every_worker)."""
    from serving.supervisor import write_control

    models = _models_with_two_bundles(small_models, tmp_path)
    events = tmp_path / "events"
    state = _state(models, events)
    build = state._build

    def the_other_worker_reloads_meanwhile(wanted: str):
        router = build(wanted)
        write_control(events, str((models / "second").resolve()))
        return router

    state._build = the_other_worker_reloads_meanwhile
    state.load_initial()
    state._build = build
    try:
        assert state.engine.bundle.path == (models / "first").resolve()
        assert state.follow_control() is True
        assert state.engine.bundle.path == (models / "second").resolve()
        assert state.follow_control() is False  # followed once
    finally:
        state.engine.close()


def test_a_reload_another_worker_records_just_after_is_followed(small_models, tmp_path, monkeypatch):
    """Two reloads taken by two workers a moment apart: the later one wins on both. Before, the
    writer looked at the control file again after writing it and could take the other worker's
    write for its own; now it remembers the write it made."""
    import serving.state as state_module
    from serving.supervisor import write_control

    models = _models_with_two_bundles(small_models, tmp_path)
    events = tmp_path / "events"
    state = _state(models, events)
    state.load_initial()

    def then_the_other_worker_writes(events_dir: Path, bundle: str):
        mine = write_control(events_dir, bundle)
        write_control(events_dir, str((models / "first").resolve()))
        return mine

    try:
        monkeypatch.setattr(state_module, "write_control", then_the_other_worker_writes)
        state.reload("second")
        assert state.engine.bundle.path == (models / "second").resolve()
        assert state.follow_control() is True
        assert state.engine.bundle.path == (models / "first").resolve()
    finally:
        state.engine.close()


def test_a_worker_does_not_load_again_the_bundle_its_own_reload_is_swapping_in(small_models, tmp_path):
    """The taking worker's own watcher can see the control file between its write and the
    worker remembering it: it waits for the reload's lock, and then finds the bundle served
    (before: it loaded and verified the same bundle a second time)."""
    import threading

    models = _models_with_two_bundles(small_models, tmp_path)
    state = _state(models, tmp_path / "events")
    state.load_initial()
    build, builds, followed = state._build, [], []

    def build_and_let_the_watcher_look(wanted: str):
        builds.append(wanted)
        router = build(wanted)
        if len(builds) == 1:  # the reload's build, the lock held: the watcher sees a new mark
            state._control_seen = None
            watcher = threading.Thread(target=lambda: followed.append(state.follow_control()))
            watcher.start()
            watcher.join(0.5)  # it waits for the lock
        return router

    state._build = build_and_let_the_watcher_look
    try:
        from serving import supervisor

        supervisor.write_control(tmp_path / "events", str((models / "second").resolve()))
        state.reload("second")
        for _ in range(100):
            if followed:
                break
            threading.Event().wait(0.05)
        assert followed == [False] and len(builds) == 1
        assert state.engine.bundle.path == (models / "second").resolve()
    finally:
        state.engine.close()
