"""The service's metrics children (:func:`serving.metrics.child`): the metric's own child, found
without ``labels`` once it exists, and a new one after the metric forgets its children."""

from __future__ import annotations

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
