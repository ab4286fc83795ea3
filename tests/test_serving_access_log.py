"""The access log (serving/access_log.py): one JSON line per request, the caller named, no secret."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from fastapi.testclient import TestClient

from ranking.settings import load_settings
from serving.access_log import access_log
from serving.app import create_app


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _app(tmp_path: Path, *overrides: str):
    return create_app(load_settings([f"serving.bundle={tmp_path / 'models' / 'latest'}",
                                     f"serving.events_dir={tmp_path / 'events'}",
                                     "serving.admin_token=op-token",
                                     'serving.client_tokens={"web": "web-token"}', *overrides]), load=False)


def test_each_request_is_one_json_line_naming_the_client_and_never_the_token(tmp_path):
    lines = Lines()
    access_log.addHandler(lines)
    try:
        with TestClient(_app(tmp_path)) as c:
            click = {"request_id": 1, "timestamp": 1788256800000, "user_id": 1, "product_id": 2,
                     "position": 1}
            c.post("/v1/events?secret=query", json={"clicks": [click]},
                   headers={"Authorization": "Bearer web-token"})
            c.post("/admin/reload", headers={"Authorization": "Bearer wrong-guess"})
            c.get("/v1/products/123/similar")
    finally:
        access_log.removeHandler(lines)
    rows = [json.loads(line) for line in lines.lines]
    assert [(r["method"], r["path"], r["status"], r["client"]) for r in rows] == [
        ("POST", "/v1/events", 200, "web"),
        ("POST", "/admin/reload", 403, "anonymous"),
        ("GET", "/v1/products/{product_id}/similar", 503, "anonymous"),  # the template, not the id
    ]
    assert all(set(r) == {"time", "method", "path", "status", "latency_ms", "client", "remote"} for r in rows)
    assert rows[0]["remote"] == "testclient" and rows[0]["latency_ms"] >= 0
    text = "\n".join(lines.lines)
    assert "web-token" not in text and "wrong-guess" not in text and "secret" not in text
    assert "request_id" not in text  # no body


def test_the_access_log_can_be_turned_off(tmp_path):
    lines = Lines()
    access_log.addHandler(lines)
    try:
        with TestClient(_app(tmp_path, "serving.access_log=false")) as c:
            c.get("/healthz")
    finally:
        access_log.removeHandler(lines)
    assert lines.lines == []
