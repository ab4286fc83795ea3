"""``python -m bench.traffic_policy``: what the traffic policy costs and where it moves traffic.

On a simulated mall and one bundle, the closed loop's first homepage pages (the same shoppers
and hours, :func:`training.experiments.page_value.shopper_contexts`) are ranked twice, policy
on (the settings in force) and off (``rules.traffic_policy=false``). Reported per arm: the
truth page value (expected clicks, orders, GMV per page, as ``shelfrank experiment page-value``)
and the share of cards, and of cards in the first ``rules.traffic_fold`` positions, by product
grade and by store band (at or above ``traffic_store_boost_min``, below
``traffic_store_penalty_below``, between); the lift of on over off with 95% bootstrap intervals;
and what the policy costs in time: the adjust and select stages' milliseconds per page.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ranking.settings import Settings, load_settings, with_rule_overrides


def _shares(pages, snapshot, settings: Settings) -> dict:
    from ranking.pipeline.traffic_grades import grades_of

    p_rows = snapshot.products.rows(pages.product_id)
    grades = grades_of(snapshot.products.take("product_score", p_rows, missing=np.nan))
    stores = snapshot.products.take("store_id", p_rows, missing=-1).astype(np.int64)
    score = snapshot.stores.take("store_experience_score", snapshot.stores.rows(stores), missing=np.nan)
    r = settings.rules
    band = np.where(score >= r.traffic_store_boost_min, "boosted",
                    np.where(score < r.traffic_store_penalty_below, "penalised", "between"))
    fold = pages.position <= r.traffic_fold
    out = {}
    for name, labels in (("grade", grades), ("store", band)):
        for value in sorted(set(labels.tolist())):
            hit = labels == value
            out[f"{name}_{value or 'unknown'}_share"] = round(float(hit.mean()), 4)
            out[f"{name}_{value or 'unknown'}_fold_share"] = round(float(hit[fold].mean()), 4)
    return out


def stage_ms(bundle: Path, settings: Settings, pages: int = 300) -> dict:
    """Median and p99 milliseconds of the adjust and select stages per homepage page, policy on
    and off, alternated twice over the same requests (the second round is reported)."""
    from ranking.engine import Engine
    from ranking.pipeline import RankRequest

    engine = Engine.load(bundle, settings)
    arms = {"on": settings.rules, "off": with_rule_overrides(settings, {"traffic_policy": False}).rules}
    out: dict = {}
    try:
        for _ in range(2):
            for name, rules in arms.items():
                pipe = engine.pipelines_for(rules)["homepage"]
                times: dict[str, list[float]] = {"adjust": [], "select": []}
                for user in range(pages):
                    result = pipe.run(RankRequest(surface="homepage", page_size=20, now_ms=0, hour=user % 24,
                                                  user_id=user, seed=user))
                    for stage, values in times.items():
                        values.append(result.timings[stage] * 1000)
                for stage, values in times.items():
                    out[f"{name}_{stage}_ms_p50"] = round(float(np.median(values)), 3)
                    out[f"{name}_{stage}_ms_p99"] = round(float(np.percentile(values, 99)), 3)
    finally:
        engine.close()
    return out


def run(data: Path, bundle: Path, contexts: int, seed: int, settings: Settings) -> dict:
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
    arms = {"on": settings, "off": with_rule_overrides(settings, {"traffic_policy": False})}
    result: dict = {"contexts": contexts, "seed": seed, "bundle": str(bundle)}
    outcomes = {}
    for name, arm in arms.items():
        outcomes[name] = page_outcomes(bundle, shoppers, ctx, arm, 20, False, name)
        pages = replay_pages(bundle, ctx, arm, [], 20)
        result[name] = {**summarise(outcomes[name], idx), **_shares(pages, snapshot, arm)}
    result["lift_on_over_off"] = lift(outcomes["on"], outcomes["off"], idx)
    result["stages"] = stage_ms(bundle, settings)
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a simulated mall (with truth/)")
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--contexts", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--set", action="append", default=[], help="section.key=value settings override")
    parser.add_argument("--out", type=Path, help="write the result here as JSON")
    args = parser.parse_args()
    result = run(args.data, args.bundle, args.contexts, args.seed, load_settings(args.set))
    text = json.dumps(result, indent=2, default=float)
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
