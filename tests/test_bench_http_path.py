"""bench.http_path's set-up: the book imported, and the shoppers' live clicks posted unless told not to."""

from __future__ import annotations

import asyncio

import pytest

from bench import http_path, speed


@pytest.mark.parametrize("clicks", [True, False])
def test_set_up_posts_each_shoppers_clicks_unless_told_not_to(monkeypatch, clicks: bool) -> None:
    posted: list[str] = []

    async def call(app, method: str, path: str, body: bytes = b"", headers=None) -> tuple[int, bytes]:
        posted.append(path)
        return 200, b"{}"

    async def no_wait(seconds: float) -> None:
        return None

    bodies = {"homepage": [{"user_id": 5}, {"user_id": 6}], "search": [{"user_id": 6}, {"user_id": 7}],
              "rerank": [{"user_id": 5, "candidates": list(range(100, 140))}], "noop": [{}]}
    monkeypatch.setattr(http_path, "call", call)
    monkeypatch.setattr(http_path.asyncio, "sleep", no_wait)
    monkeypatch.setattr(speed, "workload", lambda bundle, distinct=0: ({"rules": [], "synonyms": []}, bodies))
    out = asyncio.run(http_path.set_up(object(), None, True, clicks=clicks))
    assert posted[0].startswith("/v1/merchandising/import")
    assert posted[1:] == (["/v1/events"] * 3 if clicks else [])  # shoppers 5, 6 and 7, once each
    assert set(out) == set(http_path.PAGES) and len(out["homepage"]) == 2
