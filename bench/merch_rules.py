"""What 1,000 operator rules cost a search and a homepage page, in process, on one bundle.

``python -m bench.merch_rules BUNDLE --out FILE.json [--requests 400]`` loads the bundle (read only) as the
service does and builds a book of 1,000 rules in force over the catalog's frequent title words
(the queries a mall's shoppers type most): 700 exact-query rules (pins of one to three products,
boosts and buries of a product or a brand), 150 contains-word rules (boosts and buries of a
category or a brand, a few hides), 100 category rules (for searches filtered to a category),
40 normalised-query rules (some of them filters, some redirects) and 10 homepage rules (pins
and boosts, half of them only in some time slots). Then it ranks the same requests (searches
for those queries, a fifth filtered to a category, Zipf-distributed so the frequent ones
dominate; homepages of random shoppers) with the empty book and with the 1,000-rule book,
alternating request by request so the machine's load falls on both alike, and reports each
arm's p50/p99 (ms), the difference, the process's CPU ms per request (less moved by other
work on a shared machine than wall time), how often a rule acted and how long compiling the
book's index took. Goal (issue 28): at most +1 ms p99 at one worker.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import numpy as np

from ranking.engine import Engine
from ranking.merchandising.book import MerchandisingBook
from ranking.merchandising.rule import Rule
from ranking.pipeline import RankRequest
from ranking.settings import load_settings

RULES, REQUESTS = 1000, 400


def frequent_words(engine: Engine, n: int = 300) -> list[str]:
    """The catalog's most frequent title words (three letters or more, or CJK), most frequent first."""
    titles = engine.catalog.titles_of(engine.snapshot.products.ids)
    counts = Counter(w for t in titles for w in set(str(t).lower().split()) if len(w) >= 3 or not w.isascii())
    # ties by word: ``most_common`` breaks them by first sight, which follows the sets' string hashes,
    # so each process (its own hash seed) drew another book and other searches
    return [w for w, _ in sorted(counts.items(), key=lambda wc: (-wc[1], wc[0]))[:n]]


def _target(rng: np.random.Generator, showable: np.ndarray, brands: list[int], leaves: list[int]) -> dict:
    kind = rng.integers(3)
    if kind == 0:
        return {"product_ids": rng.choice(showable, int(rng.integers(1, 4)), replace=False).tolist()}
    if kind == 1:
        return {"brand": str(int(rng.choice(brands)))}
    return {"category_id": int(rng.choice(leaves))}


def _move(rng: np.random.Generator, target: dict) -> dict:
    return {("boost" if rng.random() < 0.7 else "bury"): {"target": target, "by": float(rng.uniform(0.1, 2))}}


def build_book(engine: Engine, words: list[str], seed: int = 7) -> MerchandisingBook:
    """The 1,000-rule book (module docstring), every rule in force at the bundle's time."""
    rng = np.random.default_rng(seed)
    cols = engine.snapshot.products.columns
    showable = engine.snapshot.products.ids[(cols["stock"] > 0) & (cols["banned"] == 0)]
    brands = sorted({int(b) for b in np.unique(cols["brand_id"])}) if "brand_id" in cols else [0]
    leaves = sorted({int(c) for c in np.unique(cols["category_id"])})
    specs: list[tuple[dict, dict]] = []
    for i in range(700):
        match = {"query": words[i % len(words)]}
        if rng.random() < 0.5:
            k = int(rng.integers(1, 4))
            specs.append((match, {"pin": rng.choice(showable, k, replace=False).tolist(),
                                  "at": sorted(rng.choice(np.arange(1, 21), k, replace=False).tolist())}))
        else:
            specs.append((match, _move(rng, _target(rng, showable, brands, leaves))))
    for i in range(150):
        match = {"contains": words[int(rng.integers(len(words)))]}
        target = ({"brand": str(int(rng.choice(brands)))} if i % 2
                  else {"category_id": int(rng.choice(leaves))})
        action = ({"hide": rng.choice(showable, 2, replace=False).tolist()} if i % 10 == 0
                  else _move(rng, target))
        specs.append((match, action))
    for _ in range(100):
        match = {"category_id": int(rng.choice(leaves))}
        specs.append((match, _move(rng, _target(rng, showable, brands, leaves))))
    for i in range(40):
        match = {"normalised_query": words[(i * 7) % len(words)].upper()}
        action = {"redirect": {"channel": f"/campaign/{i}"}} if i % 4 == 0 else \
            {"filter": {"category_id": int(rng.choice(leaves))}} if i % 4 == 1 else \
            _move(rng, _target(rng, showable, brands, leaves))
        specs.append((match, action))
    for i in range(10):
        action = {"pin": rng.choice(showable, 1).tolist(), "at": [i + 1]} if i < 4 else \
            _move(rng, {"category_id": int(rng.choice(leaves))})
        schedule = {"slots": [["morning"], ["evening"]][(i // 2) % 2]} if i % 2 else {}
        specs.append(({"homepage": True}, {**action, "_schedule": schedule}))
    rules = []
    for i, (match, action) in enumerate(specs[:RULES]):
        schedule = action.pop("_schedule", {})
        rules.append(Rule.model_validate({"match": match, "action": action, "schedule": schedule,
                                          "reason": "bench", "id": f"r{i}", "updated_ms": i,
                                          "priority": int(rng.integers(0, 3))}))
    return MerchandisingBook(tuple(rules))


def requests(engine: Engine, words: list[str], seed: int = 7, count: int = REQUESTS) -> dict[str, list[dict]]:
    """``count`` searches and homepages (module docstring); the default's draw is also
    :mod:`bench.speed`'s search bodies (its first 200), so another count is a parameter, not a new
    default."""
    rng = np.random.default_rng(seed)
    zipf = np.minimum(rng.zipf(1.3, count) - 1, len(words) - 1)
    leaves = np.unique(engine.snapshot.products.columns["category_id"]).astype(int)
    users = engine.snapshot.users.ids
    search = [{"query": words[int(z)], "category_id": int(rng.choice(leaves)) if rng.random() < 0.2 else None,
               "user_id": int(rng.choice(users)), "hour": int(rng.integers(24))} for z in zipf]
    homepage = [{"user_id": int(rng.choice(users)), "hour": int(rng.integers(24))} for _ in range(count)]
    return {"search": search, "homepage": homepage}


def measure(engine: Engine, book: MerchandisingBook, reqs: dict[str, list[dict]]) -> dict:
    """Each surface's p50/p99 (ms) with no rules and with ``book``, alternating per request."""
    out = {}
    for surface, bodies in reqs.items():
        times: dict[str, list[float]] = {"none": [], "rules": []}
        cpu: dict[str, float] = {"none": 0.0, "rules": 0.0}
        acted, applied = 0, 0
        for i, body in enumerate(bodies):
            arms = (("none", None), ("rules", book)) if i % 2 == 0 else (("rules", book), ("none", None))
            for arm, b in arms:
                request = RankRequest(surface=surface, page_size=20, now_ms=engine.snapshot.as_of_ms, seed=i,
                                      merchandising=b, **body)
                started, cpu_started = time.perf_counter(), time.process_time()
                page = engine.rank(surface, request)
                times[arm].append(time.perf_counter() - started)
                cpu[arm] += time.process_time() - cpu_started
                if b is not None:
                    acted += bool(page.rules_applied)
                    applied += len(page.rules_applied)
        p = {arm: np.percentile(np.asarray(t) * 1e3, [50, 99]) for arm, t in times.items()}
        out[surface] = {"requests": len(bodies), "p50_ms_none": round(float(p["none"][0]), 3),
                        "p99_ms_none": round(float(p["none"][1]), 3),
                        "p50_ms_rules": round(float(p["rules"][0]), 3),
                        "p99_ms_rules": round(float(p["rules"][1]), 3),
                        "p50_ms_added": round(float(p["rules"][0] - p["none"][0]), 3),
                        "p99_ms_added": round(float(p["rules"][1] - p["none"][1]), 3),
                        # CPU time of the whole process per request: what the machine's load moves least
                        "cpu_ms_none": round(cpu["none"] / len(bodies) * 1e3, 3),
                        "cpu_ms_rules": round(cpu["rules"] / len(bodies) * 1e3, 3),
                        "share_of_pages_a_rule_acted_on": round(acted / len(bodies), 3),
                        "rules_applied_per_page": round(applied / len(bodies), 2)}
    return out


def run(bundle: Path, count: int = REQUESTS) -> dict:
    """The whole measurement (module docstring) on ``bundle``, ``count`` requests a surface (a p99
    of 400 sits at about the fifth slowest; more reads it steadier)."""
    # no kept search recall: each arm asks the same queries in turn, and a kept result would let
    # the second arm skip the recall the first paid for (docs/recall.md)
    engine = Engine.load(bundle, load_settings(["recall.search_results_kept=0"]))
    try:
        words = frequent_words(engine)
        book = build_book(engine, words)
        started = time.perf_counter()
        index = book.rule_index
        compile_ms = (time.perf_counter() - started) * 1e3
        reqs = requests(engine, words, count=count)
        for surface, bodies in reqs.items():  # warm both arms' paths
            for body in bodies[:20]:
                for b in (None, book):
                    engine.rank(surface, RankRequest(surface=surface, page_size=20, merchandising=b,
                                                     now_ms=engine.snapshot.as_of_ms, **body))
        return {"bundle": str(bundle), "rules": len(index), "index_compile_ms": round(compile_ms, 1),
                **measure(engine, book, reqs)}
    finally:
        engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--requests", type=int, default=REQUESTS, help="requests a surface (each ranked "
                        "once per arm)")
    args = parser.parse_args()
    if args.requests < 1:
        parser.error(f"--requests must be at least 1, not {args.requests}")
    result = run(args.bundle, args.requests)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
