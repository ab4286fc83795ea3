"""Shared fixtures: a small simulated mall (made once per test session) and the real datasets."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATASETS = (REPO / ".." / "shared" / "datasets").resolve()

# Tests post events with fixed dates from September 2026 (after the small mall's snapshot).
# The service refuses events more than serving.event_past_days (365) before its clock, so
# from late summer 2027 on those dates would be refused: widen the bound to reach them (with
# a month to spare) in this process and the services it starts. Until then nothing changes;
# the test of the bound itself sets 365 explicitly.
FIXED_EVENT_DATES_FROM_MS = 1_785_542_400_000  # 2026-08-01T00:00:00Z
_days_back = (time.time() * 1000 - FIXED_EVENT_DATES_FROM_MS) / 86_400_000 + 30
if _days_back > 365:
    os.environ.setdefault("SHELFRANK_SERVING__EVENT_PAST_DAYS", str(math.ceil(_days_back)))


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """``../shared/datasets``; tests that need it skip with the reason when it is absent."""
    if not SHARED_DATASETS.is_dir():
        pytest.skip(
            f"real datasets not found at {SHARED_DATASETS} (a fresh clone has no ../shared); "
            "CI provides them"
        )
    return SHARED_DATASETS


def made_once(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], None]) -> Path:
    """The folder ``name`` that ``make`` fills, made once per test run and shared read-only.

    Under ``pytest -n 2`` each xdist worker is its own process with its own session fixtures,
    so every worker used to simulate the small mall and train its bundle again (about 25-45 s
    each on the 2-core CI machine). The folder lives in the run's base temp directory, which
    all workers of one run share; the first worker to ask makes it under an exclusive lock,
    the others wait on that lock and then read it. A folder left half made by a crash has no
    ``NAME.complete`` marker beside it and is made again. Without xdist this is the session's
    own temp dir.
    """
    import fcntl
    import shutil

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # popen-gwN's parent: one folder per run, shared by its workers
    out, done = root / name, root / f"{name}.complete"  # beside it: tests list the folder
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not done.exists():
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            make(out)
            done.touch()
    return out


@pytest.fixture(scope="session")
def small_mall(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated mall (scale=small, seed=7), written once per run and shared read-only."""
    from ranking.settings import MallSettings, SimulatorSettings
    from training.simulator import simulate

    return made_once(tmp_path_factory, "small_mall",
                     lambda out: simulate(out, SimulatorSettings(scale="small", seed=7), MallSettings(),
                                          progress=False))


@pytest.fixture(scope="session")
def small_models(small_mall: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder holding one bundle trained on ``small_mall`` (``latest`` points at it),
    trained once per run and shared read-only."""
    from ranking.settings import load_settings
    from training.learning.train import train_bundle

    settings = load_settings(["training.num_boost_round=60", "training.early_stopping_rounds=15",
                              "training.funnel.num_boost_round=120"])
    return made_once(tmp_path_factory, "models",
                     lambda models: train_bundle(small_mall, models, settings, progress=False))


@pytest.fixture
def one_blas_thread(monkeypatch: pytest.MonkeyPatch):
    """numpy's and scipy's BLAS on one thread for the test, here and in the processes it starts.

    ``make test`` runs two xdist workers on the two cores, so OpenBLAS's second thread has no core
    of its own: its threads wait on each other, and a small product (a query against 8,000 train
    queries, 256 floats each) took 2-26 ms instead of 0.35 on one thread. The Home Depot eval
    took 138 s of wall with two threads and 64 s with one on this machine beside other work (on a
    quiet machine the two are even: 48 and 51 s). Only
    the last bits of BLAS's sums change with the thread count (as they do from one machine to
    another), so the evals' figures move a little: their bars are the same."""
    from threadpoolctl import threadpool_limits

    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def record_reliability(name: str, **figures) -> None:
    """Write a reliability figure for ``python -m bench.reliability`` (only when it asks)."""
    import json
    import os

    out = os.environ.get("SHELFRANK_RELIABILITY_OUT")
    if out:
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.json").write_text(json.dumps(figures, default=float))


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory):
    """A private redis-server (free loopback port, no persistence) for this test session; the
    tests that need it skip, saying why, only when the redis-server binary is absent."""
    import shutil

    from redis_server import MISSING, RedisServer

    if shutil.which("redis-server") is None:
        pytest.skip(MISSING)
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server.url
    server.stop()


@pytest.fixture(params=["embedded", "redis"])
def live_backend(request: pytest.FixtureRequest):
    """Makes a live state of each backend from LiveSettings: the embedded LiveState, and a
    RedisLiveState on the private server under a prefix of its own (so tests share nothing)."""
    import uuid

    from ranking.live import LiveState
    from ranking.settings import LiveSettings

    if request.param == "embedded":
        yield lambda settings=None: LiveState(settings or LiveSettings())
        return
    from ranking.live.redis_state import RedisLiveState

    url, made = request.getfixturevalue("redis_url"), []

    def make(settings: LiveSettings | None = None) -> RedisLiveState:
        update = {"redis_url": url, "redis_prefix": f"test-{uuid.uuid4().hex[:12]}:"}
        made.append(RedisLiveState((settings or LiveSettings()).model_copy(update=update)))
        return made[-1]

    yield make
    for state in made:
        state.clear()
        state.close()


def loaded_service_state(small_models: Path, tmp_path_factory: pytest.TempPathFactory):
    """A module's in-process service state on the small bundle (events in a temporary folder),
    its engine closed after the module: ``yield from`` it in a module-scoped fixture."""
    from ranking.settings import Settings
    from serving.state import ServiceState

    settings = Settings(serving={"bundle": str(small_models / "latest"),
                                 "events_dir": str(tmp_path_factory.mktemp("events"))})
    served = ServiceState(settings)
    served.load_initial()
    assert served.engine is not None, served.load_error
    yield served
    served.engine.close()


@pytest.fixture
def one_faiss_thread():
    """faiss on one thread here, as the service sets it (``serving.search_threads``)."""
    import faiss  # here, not at the top: most tests never touch it

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


def recording(function: Callable, kept: list) -> Callable:
    """``function`` (a guess that returns None when it keeps nothing), appending to ``kept``
    whether each call's answer was not None."""
    def recorded(*args, **kwargs):
        got = function(*args, **kwargs)
        kept.append(got is not None)
        return got
    return recorded
