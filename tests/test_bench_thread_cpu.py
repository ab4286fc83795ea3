"""bench.thread_cpu: the service's CPU split by what each thread does, read from a real process."""

from __future__ import annotations

import select
import subprocess
import sys

import pytest

from bench.thread_cpu import by_role, py_spy, role, thread_names, thread_seconds

# a process whose named threads burn known shares of CPU: the live tail three times the page
BURNER = """
import threading, time
def burn(seconds, done):
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass
    done.release()
    time.sleep(60)
go, done = threading.Event(), threading.Semaphore(0)
def start():
    go.wait()
    for name, seconds in (("live-tail", 0.6), ("shelfrank-page_0", 0.2)):
        threading.Thread(target=burn, args=(seconds, done), name=name, daemon=True).start()
threading.Thread(target=start, name="catalog-follower", daemon=True).start()
print("ready", flush=True)
input()
go.set()
done.acquire()
done.acquire()
print("done", flush=True)
time.sleep(60)
"""


def test_roles_come_from_the_service_thread_names():
    assert role("shelfrank-page_3") == "pages" and role("MainThread") == "event_loop"
    assert role("recall_1") == "recall_pool" and role("live-tail") == "live_tail"
    assert role("merch-follower") == role("catalog-follower") == "followers"
    assert role("flush-exposures") == "exposure_flush" and role("Thread-7") == "other"
    assert role(None) == "unnamed"


def test_by_role_sums_threads_per_role_per_request_and_keeps_ended_threads_as_gone():
    before = {0: 10.0, 1: 5.0, 2: 1.0, 3: 2.0, 9: 0.5}  # thread 9 ends during the run
    after = {0: 10.9, 1: 5.4, 2: 1.2, 3: 2.1, 4: 0.1}  # thread 4 starts during it
    names = {1: "shelfrank-page_0", 2: "shelfrank-page_1", 3: "MainThread", 4: "live-tail"}
    got = by_role(before, after, names, requests=100)
    assert got == {"all": 9.0, "pages": 6.0, "event_loop": 1.0, "live_tail": 1.0, "gone": 1.0}
    assert list(got) == sorted(got, key=lambda k: -got[k])  # largest first


def test_a_real_process_threads_are_named_and_timed():
    if py_spy() is None:
        pytest.skip("py-spy is not installed (it comes with the project's dev dependencies)")
    proc = subprocess.Popen([sys.executable, "-c", BURNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        names = thread_names(proc.pid)
        if not names:
            pytest.skip("py-spy cannot attach to a process here (ptrace is not permitted)")
        before = thread_seconds(proc.pid)
        proc.stdin.write("\n")
        proc.stdin.flush()
        # both burners done, however long a loaded machine takes to give them their 0.8 s of CPU
        # (up to a minute: a burner that never ends fails the test instead of hanging it)
        assert select.select([proc.stdout], [], [], 60)[0], "the burners did not finish in 60 s"
        assert proc.stdout.readline().strip() == "done"
        after = thread_seconds(proc.pid)
        got = by_role(before, after, thread_names(proc.pid), requests=1)
    finally:
        proc.kill()
        proc.wait()
    assert set(names.values()) >= {"MainThread", "catalog-follower"}
    assert 500 <= got["live_tail"] <= 800 and 150 <= got["pages"] <= 300, got
    assert got["live_tail"] > 2 * got["pages"] and got["all"] >= got["live_tail"] + got["pages"], got
