"""The merchandising book as one file: ``shelfrank merchandising export FILE`` / ``import FILE``.

The file is the API's export (``GET /v1/merchandising/export``): ``{"format": 1, "rules": [...],
"synonyms": [...]}``, written as indented JSON with sorted keys and the book's stable order, so
a mall can keep its rules in git and review each change as a diff.

* :func:`export_book` reads it from a running service (``url`` and the operator token) or
  straight from an event log (``events_dir``: every change line folded, no service needed);
* :func:`import_book` sends it to a running service (``POST /v1/merchandising/import``), which
  checks the whole file against the served catalog (a pin of a banned product is refused, naming
  it) before it writes anything, and applies it on every worker within a second. There is no
  offline import: only the service can check a pin against what it serves now.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ranking.live.catalog_feed import LogCatalogFeed
from ranking.merchandising.changes import MERCH_TABLES
from ranking.merchandising.state import MerchandisingState

EXPORT_PATH, IMPORT_PATH = "/v1/merchandising/export", "/v1/merchandising/import"


class MerchandisingFileError(Exception):
    """The service refused the file or the request (the message says why)."""


def _client(url: str, token: str) -> Any:
    import httpx2

    return httpx2.Client(base_url=url.rstrip("/"), timeout=120.0,
                         headers={"Authorization": f"Bearer {token}"})


def write_book(book: dict, path: Path) -> None:
    path.write_text(json.dumps(book, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def book_of_log(events_dir: Path) -> dict:
    """The export of the book an event log holds (every merchandising change line folded)."""
    state = MerchandisingState()
    feed = LogCatalogFeed(events_dir, MERCH_TABLES)
    try:
        state.fold(feed.poll())
    finally:
        feed.close()
    dump = [r.model_dump(mode="json", exclude_none=True) for r in state.book.rules]
    return {"format": 1, "rules": dump,
            "synonyms": [s.model_dump(mode="json", exclude_none=True) for s in state.book.synonyms]}


def export_book(path: Path, url: str | None = None, token: str | None = None,
                events_dir: Path | None = None) -> dict:
    """Write the book to ``path`` from a service or an event log; return it."""
    if events_dir is not None:
        book = book_of_log(events_dir)
    else:
        with _client(url or "", token or "") as client:
            r = client.get(EXPORT_PATH)
        if r.status_code != 200:
            raise MerchandisingFileError(f"GET {EXPORT_PATH}: {r.status_code} {r.text[:500]}")
        book = r.json()
    write_book(book, path)
    return book


def import_book(path: Path, url: str, token: str, mode: str = "merge") -> dict:
    """Send ``path`` to the service's import (``mode`` merge or replace); its answer."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MerchandisingFileError(f"{path} is not a JSON file: {exc}") from exc
    with _client(url, token) as client:
        r = client.post(IMPORT_PATH, params={"mode": mode}, json=body)
    if r.status_code != 200:
        detail = r.json().get("detail") if r.headers.get("content-type", "").startswith("application/json") \
            else r.text
        if isinstance(detail, list):
            detail = "; ".join(f"{'.'.join(map(str, d.get('loc', [])))}: {d.get('msg')}" for d in detail[:20])
        raise MerchandisingFileError(f"{r.status_code}: nothing was imported: {detail}")
    return r.json()
