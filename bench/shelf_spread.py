"""``python -m bench.shelf_spread``: what the shelf spread earns or costs, and what the pages hold.

On a simulated mall and one bundle, the closed loop's first homepage pages (the same shoppers
and hours, :func:`training.experiments.page_value.shopper_contexts`) are ranked under the spread
off (every ``rules.spread_*`` cap 0, ``subsidy_share_max`` 1: store diversity only, as before it)
and under each arm asked for (``--arm NAME='{"spread_category_max": {"homepage": 2}, ...}'``, rule
overrides as JSON; the settings in force are the arm ``default``). Reported per arm: the truth
page value (expected clicks, orders, GMV per page, as ``shelfrank experiment page-value``), leaf
categories and brands per page, the largest leaf category's and brand's share of a page, the
subsidy share of the cards; each arm's lift over off with 95% paired bootstrap intervals; and
the select stage's milliseconds per homepage page, off and default; and the page mix of the
demo page's homepages (its 24 users at 9, 15 and 21 h), off and default.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ranking.settings import Settings, load_settings, with_rule_overrides

SPREAD_OFF = {"spread_category_max": {}, "spread_brand_max": {}, "subsidy_share_max": {},
              "spread_min_categories": {}}


def page_mix(pages, snapshot) -> dict:
    """Means over pages of leaf categories and brands per page, the largest leaf's and brand's
    share of a page, and the share of subsidy cards."""
    rows = snapshot.products.rows(pages.product_id)
    out: dict = {}
    for plural, name, column in (("leaves", "leaf", "category_id"), ("brands", "brand", "brand_id")):
        keys = snapshot.products.take(column, rows, missing=-1).astype(np.int64)
        per_page, largest = [], []
        for c in np.unique(pages.context):
            counts = np.unique(keys[pages.context == c], return_counts=True)[1]
            per_page.append(len(counts))
            largest.append(counts.max() / counts.sum())
        out[f"{plural}_per_page"] = round(float(np.mean(per_page)), 2)
        out[f"{plural}_per_page_min"] = int(np.min(per_page))
        out[f"largest_{name}_share"] = round(float(np.mean(largest)), 3)
        out[f"largest_{name}_share_max"] = round(float(np.max(largest)), 3)
    subsidy = snapshot.products.take("subsidy", rows, missing=0.0) > 0
    out["subsidy_share"] = round(float(subsidy.mean()), 3)
    return out


def select_ms(bundle: Path, arms: dict[str, Settings], pages: int = 300) -> dict:
    """Median and p99 milliseconds of the select stage per homepage page under each arm,
    alternated twice over the same requests (the second round is reported)."""
    from ranking.engine import Engine
    from ranking.pipeline import RankRequest

    engine = Engine.load(bundle, next(iter(arms.values())))
    out: dict = {}
    try:
        for _ in range(2):
            for name, arm in arms.items():
                pipe = engine.pipelines_for(arm.rules)["homepage"]
                times = [pipe.run(RankRequest(surface="homepage", page_size=20, now_ms=0, hour=u % 24,
                                              user_id=u, seed=u)).timings["select"] * 1000
                         for u in range(pages)]
                out[f"{name}_select_ms_p50"] = round(float(np.median(times)), 3)
                out[f"{name}_select_ms_p99"] = round(float(np.percentile(times, 99)), 3)
    finally:
        engine.close()
    return out


def demo_mix(bundle: Path, arms: dict[str, Settings], hours: tuple[int, ...] = (9, 15, 21)) -> dict:
    """:func:`page_mix` of the demo page's homepages: its 24 users (``/v1/demo/users``) at ``hours``."""
    import pandas as pd

    from ranking.engine import Engine
    from ranking.pipeline import RankRequest
    from serving.routes.demo import most_active_users

    engine = Engine.load(bundle, next(iter(arms.values())))
    out: dict = {}
    try:
        users = most_active_users(engine.snapshot, 24)
        for name, arm in arms.items():
            ids, context = [], []
            for c, (user, hour) in enumerate((u, h) for u in users for h in hours):
                request = RankRequest(surface="homepage", page_size=20, hour=hour, seed=c,
                                      now_ms=engine.snapshot.as_of_ms, user_id=user)
                page = engine.rank("homepage", request, arm.rules)
                ids += [card["product_id"] for card in page.cards]
                context += [c] * len(page.cards)
            pages = pd.DataFrame({"product_id": np.array(ids, np.int64), "context": np.array(context)})
            out[name] = page_mix(pages, engine.snapshot)
    finally:
        engine.close()
    return out


RULES_OFF = {**SPREAD_OFF, "traffic_policy": False, "theme_boost": 0.0, "value_weight": 0.0,
             "exploration_slots": []}


def candidate_subsidy(bundle: Path, settings: Settings, hours: tuple[int, ...] = (9, 15, 21)) -> dict:
    """Why homepages were nearly all subsidy cards: over the demo page's homepages (24 users at
    ``hours``), every candidate ranked with every adjuster and placement rule off (``RULES_OFF``):
    the subsidised share of the candidates, of each recall source's candidates, and of the first
    20 by model score, and the candidates' mean conversion rate, subsidised or not."""
    from collections import Counter

    from ranking.engine import Engine
    from ranking.pipeline import RankRequest
    from serving.routes.demo import most_active_users

    rules = with_rule_overrides(settings, RULES_OFF).rules
    engine = Engine.load(bundle, settings)
    shown, subsidised, top, top_subsidised, ids = Counter(), Counter(), 0, 0, []
    try:
        users = most_active_users(engine.snapshot, 24)
        for c, (user, hour) in enumerate((u, h) for u in users for h in hours):
            request = RankRequest(surface="homepage", page_size=5000, hour=hour, seed=c,
                                  now_ms=engine.snapshot.as_of_ms, user_id=user)
            cards = engine.rank("homepage", request, rules).cards
            ids += [card["product_id"] for card in cards]
            for card in cards:
                for source in [*card["sources"], "all"]:
                    shown[source] += 1
                    subsidised[source] += bool(card["subsidy"])
            best = sorted(cards, key=lambda card: -card["model_score"])[:20]
            top, top_subsidised = top + len(best), top_subsidised + sum(bool(x["subsidy"]) for x in best)
        rows = engine.snapshot.products.rows(np.array(ids, np.int64))
        cvr = engine.snapshot.products.take("cvr", rows, missing=np.nan)
        flag = engine.snapshot.products.take("subsidy", rows, missing=0.0) > 0
    finally:
        engine.close()
    return {"candidates": shown["all"], "first_20_by_model_score": round(top_subsidised / top, 3),
            "mean_cvr_subsidised": round(float(np.nanmean(cvr[flag])), 3),
            "mean_cvr_other": round(float(np.nanmean(cvr[~flag])), 3),
            "by_source": {k: round(subsidised[k] / n, 3) for k, n in sorted(shown.items())}}


def run(data: Path, bundle: Path, contexts: int, seed: int, settings: Settings,
        arms: dict[str, dict]) -> dict:
    from ranking.bundle import load_bundle
    from training.experiments.closed_loop import Shoppers
    from training.experiments.page_replay import replay_pages
    from training.experiments.page_value import lift, page_outcomes, shopper_contexts, summarise
    from training.stats import bootstrap_indices

    started = time.perf_counter()
    shoppers = Shoppers(data, seed, settings.simulator)
    ctx = shopper_contexts(shoppers, contexts)
    idx = bootstrap_indices(contexts, 1000, seed)
    snapshot = load_bundle(bundle).snapshot
    settled = {"off": with_rule_overrides(settings, SPREAD_OFF), "default": settings,
               **{name: with_rule_overrides(settings, rules) for name, rules in arms.items()}}
    result: dict = {"contexts": contexts, "seed": seed, "bundle": str(bundle), "arms": arms}
    outcomes = {}
    for name, arm in settled.items():
        outcomes[name] = page_outcomes(bundle, shoppers, ctx, arm, 20, False, name)
        pages = replay_pages(bundle, ctx, arm, [], 20)
        result[name] = {**summarise(outcomes[name], idx), **page_mix(pages, snapshot)}
        if name != "off":
            result[name]["lift_over_off"] = lift(outcomes[name], outcomes["off"], idx)
    result["demo_users"] = demo_mix(bundle, {"off": settled["off"], "default": settings})
    result["stages"] = select_ms(bundle, {"off": settled["off"], "default": settings})
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a simulated mall (with truth/)")
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--contexts", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--set", action="append", default=[], help="section.key=value settings override")
    parser.add_argument("--arm", action="append", default=[],
                        help="NAME=JSON: an arm with these rules overrides (spread settings)")
    parser.add_argument("--out", type=Path, help="write the result here as JSON")
    parser.add_argument("--candidates-only", action="store_true",
                        help="only the demo homepages' candidates' subsidy shares, every rule off "
                             "(candidate_subsidy; --data is not read)")
    args = parser.parse_args()
    if args.candidates_only:
        print(json.dumps(candidate_subsidy(args.bundle, load_settings(args.set)), indent=2))
        return
    arms = {}
    for spec in args.arm:
        name, sep, raw = spec.partition("=")
        if not sep:
            parser.error(f"--arm {spec!r}: expected NAME=JSON")
        arms[name] = json.loads(raw)
    result = run(args.data, args.bundle, args.contexts, args.seed, load_settings(args.set), arms)
    text = json.dumps(result, indent=2, default=float)
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
