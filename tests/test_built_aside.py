"""ranking.built_aside: a per-catalog-version table built in a background thread, never on a
request; requests get None (and compute their own rows) until it holds their sources."""

from __future__ import annotations

import pickle
import threading
import time

import numpy as np
import pytest

from ranking.built_aside import BuiltAside, same_sources


def _wait(aside: BuiltAside) -> None:
    deadline = time.time() + 10
    while aside._building.locked():
        assert time.time() < deadline
        time.sleep(0.002)


def test_a_request_never_waits_for_a_build_and_gets_the_table_once_built() -> None:
    column = np.arange(5)
    started, release = threading.Event(), threading.Event()
    calls = []

    def build(sources, last):
        calls.append(last)
        started.set()
        release.wait(5)  # a slow build: the request must not wait for it
        return sources[0] * 2

    aside = BuiltAside("test")
    t = time.perf_counter()
    assert aside.ready((column,), build) is None
    assert time.perf_counter() - t < 1.0 and started.wait(5)
    assert aside.ready((column,), build) is None  # still building: one build at a time
    release.set()
    _wait(aside)
    table = aside.ready((column,), build)
    assert table.tolist() == [0, 2, 4, 6, 8] and aside.ready((column,), build) is table
    assert calls == [None]


def test_other_sources_build_anew_with_the_last_table_given() -> None:
    aside, seen = BuiltAside("test"), []

    def build(sources, last):
        seen.append(last)
        return sources[0].sum()

    a, b = np.ones(3), np.ones(3)  # equal values, another object: the live catalog's swap
    assert aside.now((a, 0.5), build) == 3
    assert aside.ready((a, 0.5), build) == 3  # the same objects and an equal number
    assert aside.ready((b, 0.5), build) is None
    _wait(aside)
    assert aside.ready((b, 0.5), build) == 3 and seen == [None, 3]
    assert aside.ready((b, 0.7), build) is None  # a changed setting is another version


def test_a_failed_build_is_logged_and_the_next_request_tries_again(caplog) -> None:
    aside, tries = BuiltAside("flaky"), []

    def build(sources, last):
        tries.append(1)
        if len(tries) == 1:
            raise RuntimeError("boom")
        return "table"

    assert aside.ready((1,), build) is None
    _wait(aside)
    assert "flaky not built" in caplog.text
    assert aside.ready((1,), build) is None
    _wait(aside)
    assert aside.ready((1,), build) == "table"


def test_same_sources_is_identity_for_arrays_and_equality_for_numbers() -> None:
    a = np.zeros(2)
    assert same_sources((a, 1, "x", None), (a, 1, "x", None))
    assert not same_sources((a,), (a.copy(),))
    assert not same_sources((a,), (a, 1))


def test_it_pickles_empty() -> None:
    aside = BuiltAside("p")
    aside.now((1,), lambda s, last: "t")
    copy = pickle.loads(pickle.dumps(aside))
    assert copy._memo is None and copy.name == "p" and not copy._building.locked()


def test_a_table_prepared_before_a_swap_serves_the_old_sources_and_then_the_new_without_a_build(
        monkeypatch) -> None:
    aside, seen = BuiltAside("test"), []

    def build(sources, last):
        seen.append(last)
        return sources[0].sum()

    old, new = np.ones(3), np.ones(4)
    assert aside.now((old,), build) == 3
    aside.prepare((new,), build)  # on the caller's thread, given the last table
    assert seen == [None, 3]
    monkeypatch.setattr(threading.Thread, "start", lambda self: pytest.fail("a build aside started"))
    assert aside.ready((old,), build) == 3  # requests before the swap keep theirs
    assert aside.ready((new,), build) == 4  # the first after it finds it built
    assert aside.ready((new,), build) == 4 and aside._next is None and seen == [None, 3]
    aside.prepare((new,), build)  # already the served one: nothing built
    assert seen == [None, 3]


def test_a_prepared_table_is_what_now_gives_too_without_building_it_again() -> None:
    aside, seen = BuiltAside("test"), []

    def build(sources, last):
        seen.append(last)
        return sources[0].sum()

    old, new = np.ones(3), np.ones(4)
    aside.now((old,), build)
    aside.prepare((new,), build)
    assert aside.now((new,), build) == 4 and seen == [None, 3] and aside._next is None
