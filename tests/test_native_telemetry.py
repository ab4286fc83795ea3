"""FastAPI's native OpenTelemetry is off unless the environment configures OpenTelemetry.

FastAPI 0.165 checks on every request whether global OpenTelemetry providers are configured
(``NativeTelemetry.enabled``: ``trace.get_tracer_provider()`` and more). The service does not use
OpenTelemetry, so ``serving.app.create_app`` turns it off the documented way
(``FastAPI(telemetry={...})``) unless the environment sets it up. On the code before, the first
test fails: every request asked for the tracer provider.
"""

from __future__ import annotations

import httpx2
import pytest
from opentelemetry import trace

from ranking.settings import load_settings
from serving.app import TELEMETRY_OFF, create_app, native_telemetry


def _asks_for_the_tracer(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = trace.get_tracer_provider

    def counted():
        calls.append(1)
        return real()

    monkeypatch.setattr(trace, "get_tracer_provider", counted)
    return calls


def _get_healthz(app) -> int:
    import asyncio

    async def go() -> int:
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://test") as client:
            return (await client.get("/healthz")).status_code

    return asyncio.run(go())


def _clean_environment(monkeypatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("OTEL_") or name == "FASTAPI_OTEL_AUTO_CONFIGURE":
            monkeypatch.delenv(name)


def test_a_request_does_not_ask_for_opentelemetry_providers(monkeypatch) -> None:
    _clean_environment(monkeypatch)
    app = create_app(load_settings(["serving.access_log=false"]), load=False)
    calls = _asks_for_the_tracer(monkeypatch)
    assert _get_healthz(app) == 200
    assert calls == []


def test_an_environment_that_configures_opentelemetry_keeps_fastapi_s_default(monkeypatch) -> None:
    _clean_environment(monkeypatch)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    app = create_app(load_settings(["serving.access_log=false"]), load=False)
    calls = _asks_for_the_tracer(monkeypatch)
    assert _get_healthz(app) == 200
    assert calls  # FastAPI checks the providers, as it does by default


@pytest.mark.parametrize(("environ", "expected"), [
    ({}, TELEMETRY_OFF),
    ({"PATH": "/bin", "FASTAPI_OTEL_AUTO_CONFIGURE": "false"}, TELEMETRY_OFF),
    ({"FASTAPI_OTEL_AUTO_CONFIGURE": "true"}, None),
    ({"FASTAPI_OTEL_AUTO_CONFIGURE": "TRUE"}, None),
    ({"OTEL_SERVICE_NAME": "shelfrank"}, None),
])
def test_the_switch_follows_the_environment(environ, expected) -> None:
    assert native_telemetry(environ) == expected
