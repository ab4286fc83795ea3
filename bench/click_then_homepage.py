"""A shopper's homepage right after their click: ``python -m bench.click_then_homepage BUNDLE``.

Sets the real app up as :mod:`bench.http_path` does (live state ``embedded``, the merchandising book
of :mod:`bench.speed`), with no live clicks yet, warms it on ``--warm`` shoppers, then for each of
``--shoppers`` others posts three clicks through ``POST /v1/events``, waits ``--gap`` seconds (the
live tail polls every ``live.poll_ms``) and asks for that shopper's homepage: the pattern a mall
sees when a shopper clicks a card and comes back to the homepage. Prints the homepage's wall ms
(p50, p90, p99, mean) and how many shoppers' lists were computed ahead
(``recall.homepage_lists_ahead``, :mod:`ranking.live.homepage_ahead`; ``--set
recall.homepage_lists_ahead=false`` for the pages without it), as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import numpy as np
import orjson

from bench.http_path import ADMIN, PAGES, call, click_rows, set_up, started_app


def measure(bundle: Path, sets: list[str], shoppers: int = 200, warm: int = 30, gap: float = 0.15) -> dict:
    with started_app(bundle, "click-then-home-", sets) as (app, loop):
        bodies = loop.run_until_complete(set_up(app, bundle, True, shoppers + warm, False))
        homes = [orjson.loads(b) for b in bodies["homepage"]]
        products = np.unique(np.concatenate([orjson.loads(b)["candidates"] for b in bodies["rerank"]]))
        rng, now = np.random.default_rng(5), int(time.time() * 1000) - 5_000
        for body in homes[:warm]:
            loop.run_until_complete(call(app, "POST", PAGES["homepage"], orjson.dumps(body)))
        walls = []
        for n, body in enumerate(homes[warm:warm + shoppers]):
            clicks = click_rows(body["user_id"], rng.choice(products, 3, replace=False), 9_000_000 + n * 10,
                                now, 1)
            posted = call(app, "POST", "/v1/events", orjson.dumps({"clicks": clicks}), ADMIN)
            status, text = loop.run_until_complete(posted)
            assert status == 200, text[:300]
            loop.run_until_complete(asyncio.sleep(gap))
            started = time.perf_counter()
            status, text = loop.run_until_complete(call(app, "POST", PAGES["homepage"], orjson.dumps(body)))
            walls.append((time.perf_counter() - started) * 1000)
            assert status == 200, text[:300]
        ahead = app.state.shelfrank.lists_ahead
        w = np.array(walls)
        return {"shoppers": len(w), "gap_s": gap, "p50_ms": round(float(np.median(w)), 2),
                "p90_ms": round(float(np.percentile(w, 90)), 2),
                "p99_ms": round(float(np.percentile(w, 99)), 2),
                "mean_ms": round(float(w.mean()), 2), "lists_ahead": ahead is not None,
                "shoppers_warmed": ahead.warmed if ahead is not None else 0}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--shoppers", type=int, default=200)
    parser.add_argument("--warm", type=int, default=30)
    parser.add_argument("--gap", type=float, default=0.15, help="seconds between the clicks and the page")
    parser.add_argument("--set", action="append", default=[], help="settings override key=value")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.bundle, args.set, args.shoppers, args.warm, args.gap)))


if __name__ == "__main__":
    main()
