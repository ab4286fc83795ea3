"""One page of each pipeline, unlike the warm-up's, ranked in process and timed: what the first
pages after a start, a reload or a live catalog change cost and build.

:func:`pages` makes one request per pipeline of the engine (search, homepage, rerank and the
channel pages) for other shoppers, another query word and other candidates than
``Engine._warm_requests``' (so nothing the warm-up ranked answers them from a per-shopper or
per-query memo), at one hour; :func:`rank_each` ranks them one at a time on the calling thread and
gives each page's thread CPU ms, its process CPU ms (with the recall pool's threads and any build
aside running meanwhile) and what it built of what is kept per product table
(:class:`bench.kept_builds.KeptBuilds`). Used by :mod:`bench.catalog_change` and
:mod:`bench.start_tables`.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

# an hour of each time slot (``slot_of_hour``: morning 06-12, afternoon 12-18, evening 18-06):
# theme boost keeps its theme codes per slot, the homepage's theme source its list
SLOT_HOURS = (9, 15, 21)


def pages(engine: Any, hour: int, offset: int = 0) -> list[tuple[str, Any]]:
    """(pipeline, request) for every pipeline of ``engine`` at ``hour``; ``offset`` picks other
    shoppers, word and candidates (a different page per call)."""
    from ranking.pipeline import RankRequest
    from ranking.surfaces import CATEGORY_CHANNEL, CHANNEL, SUBSIDY_CHANNEL

    snap = engine.snapshot
    users = snap.users.ids
    user = int(users[(5 + offset) % len(users)]) if len(users) else None
    words = [w for w in snap.text.vocabulary if len(w) >= 3] or ["a"]
    word = words[(3 + offset) % len(words)]
    n = len(snap.products.ids)
    start = (300 + 200 * offset) % max(n - 200, 1)
    ids = snap.products.ids[start:start + 200].astype(np.int64)
    now = snap.as_of_ms
    out = [("search", RankRequest(surface="search", page_size=20, now_ms=now, hour=hour, user_id=user,
                                  query=word)),
           ("homepage", RankRequest(surface="homepage", page_size=20, now_ms=now, hour=hour, user_id=user)),
           ("rerank", RankRequest(surface="homepage", page_size=20, now_ms=now, hour=hour, user_id=user,
                                  candidates=ids)),
           (SUBSIDY_CHANNEL, RankRequest(surface=CHANNEL, page_size=20, now_ms=now, hour=hour, user_id=user,
                                         channel=SUBSIDY_CHANNEL, channel_exposures={}))]
    if "category_id" in snap.products.columns and n:
        category = int(snap.products.columns["category_id"][(7 + offset * 13) % n])
        out.append((CATEGORY_CHANNEL, RankRequest(surface=CHANNEL, page_size=20, now_ms=now, hour=hour,
                                                  user_id=user, channel=CATEGORY_CHANNEL,
                                                  category_id=category)))
    return [(name, request) for name, request in out if name in engine.pipelines]


def rank_each(engine: Any, requests: list[tuple[str, Any]], kept: Any | None = None) -> dict[str, dict]:
    """Rank each page in turn: per pipeline its ``thread_cpu_ms``, ``process_cpu_ms``, the product
    ids shown (``ids``) and, with ``kept`` (an entered :class:`~bench.kept_builds.KeptBuilds`),
    what it ``built`` and what other threads built meanwhile (``built_aside``)."""
    out, me = {}, threading.current_thread().name
    for name, request in requests:
        if kept is not None:
            kept.take()
        thread, process = time.thread_time(), time.process_time()
        page = engine.rank(name, request)
        thread, process = time.thread_time() - thread, time.process_time() - process
        out[name] = {"thread_cpu_ms": thread * 1000, "process_cpu_ms": process * 1000,
                     "ids": [int(c["product_id"]) for c in page.cards]}
        if kept is not None:
            built = kept.take()
            out[name]["built"] = [what for thread, what in built if thread == me]
            out[name]["built_aside"] = [what for thread, what in built if thread != me]
    return out
