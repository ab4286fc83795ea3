"""The service's metrics children (:func:`serving.metrics.child`): the metric's own child, found
without ``labels`` once it exists, and a new one after the metric forgets its children."""

from __future__ import annotations

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram

from serving import metrics


def _metrics() -> tuple[Histogram, Counter]:
    registry = CollectorRegistry()
    return (Histogram("t_seconds", "test", ["a", "b"], buckets=metrics.BUCKETS, registry=registry),
            Counter("t_total", "test", ["a", "b"], registry=registry))


def test_a_child_is_the_metrics_own_and_made_once(monkeypatch) -> None:
    hist, count = _metrics()
    made = metrics.child(hist, "/v1/search", "POST")
    assert made is hist.labels("/v1/search", "POST")
    monkeypatch.setattr(hist, "labels", lambda *a: pytest.fail("labels called for a child that exists"))
    assert metrics.child(hist, "/v1/search", "POST") is made
    metrics.child(count, "/v1/search", "200").inc()
    assert count.labels("/v1/search", "200")._value.get() == 1


def test_a_removed_or_cleared_child_is_made_again_and_counted() -> None:
    hist, count = _metrics()
    old = metrics.child(count, "x", "1")
    old.inc(5)
    count.clear()
    new = metrics.child(count, "x", "1")
    assert new is not old and new is count.labels("x", "1")
    new.inc()
    metrics.child(hist, "x", "y").observe(0.004)
    hist.remove("x", "y")
    metrics.child(hist, "x", "y").observe(0.001)
    samples = {(s.name, tuple(s.labels.values())): s.value
               for m in (hist, count) for family in m.collect() for s in family.samples}
    assert samples[("t_total", ("x", "1"))] == 1
    assert samples[("t_seconds_sum", ("x", "y"))] == pytest.approx(0.001)


def test_the_services_metrics_keep_their_children_where_child_reads_them() -> None:
    """``child`` reads prometheus_client's ``_metrics``: a release that moves it fails here."""
    for metric in (metrics.REQUEST_SECONDS, metrics.RESPONSES, metrics.STAGE_SECONDS):
        assert isinstance(metric._metrics, dict)


def _samples(*metric) -> dict:
    return {(s.name, tuple(s.labels.values())): s.value
            for m in metric for family in m.collect() for s in family.samples
            if not s.name.endswith("_created")}


def test_observe_puts_every_amount_in_the_bucket_and_sum_histogram_observe_does(monkeypatch) -> None:
    """The bounds themselves, just above and below them, zero, negatives, huge, infinite and NaN."""
    ours, theirs = _metrics()[0], _metrics()[0]
    bounds = [float(b) for b in metrics.BUCKETS]
    amounts = [0.0, -1.0, 1e9, float("inf"), float("nan"), *bounds,
               *(b * (1 + 1e-12) for b in bounds), *(b * (1 - 1e-12) for b in bounds)]
    amounts += list(np.random.default_rng(0).exponential(0.01, 500))
    mine = metrics.child(ours, "p", "s")
    observe = mine.observe

    def only_nan(amount: float) -> None:  # a finite or infinite amount never goes through observe
        assert amount != amount, f"observe({amount})"
        observe(amount)

    monkeypatch.setattr(mine, "observe", only_nan)
    for amount in amounts:
        metrics.observe(mine, amount)
        theirs.labels("p", "s").observe(amount)
    mine_samples, their_samples = _samples(ours), _samples(theirs)
    assert mine_samples.keys() == their_samples.keys()
    for key, value in their_samples.items():
        assert mine_samples[key] == value or (value != value and mine_samples[key] != mine_samples[key]), key


def test_count_adds_one_as_inc_does(monkeypatch) -> None:
    count = _metrics()[1]
    mine = metrics.child(count, "x", "1")
    monkeypatch.setattr(mine, "inc", lambda *a: pytest.fail("inc called"))
    for _ in range(3):
        metrics.count(mine)
    assert _samples(count)[("t_total", ("x", "1"))] == 3


def test_observe_and_count_read_the_childs_values_where_prometheus_client_keeps_them() -> None:
    """``observe`` and ``count`` read prometheus_client's ``_sum``, ``_buckets``, ``_upper_bounds``
    and ``_value``: a release that moves them fails here."""
    hist, count = metrics.child(metrics.STAGE_SECONDS, "t", "t"), metrics.child(metrics.RESPONSES, "t", "200")
    assert hist._upper_bounds == sorted(hist._upper_bounds) and len(hist._buckets) == len(hist._upper_bounds)
    assert callable(hist._sum.inc) and callable(count._value.inc)
    metrics.STAGE_SECONDS.remove("t", "t")
    metrics.RESPONSES.remove("t", "200")
