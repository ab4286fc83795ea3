"""What the trust and offer attributes are worth in the simulator's truth (docs/offers.md).

``python -m bench.offer_truth DATA`` reads a simulated mall's logged impressions and its
truth, and prints the oracle's mean P(order | examined) of those cards with the behaviour
model's offer terms as simulated and with them switched off (``offer_effect`` 0), overall
and, for the cards carrying each attribute, what that attribute alone adds (the oracle with it
against the oracle with only its flags switched off), over all shoppers and by risk aversion
(at least / below 0.5). One JSON object.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from ranking.badges import ATTRIBUTE_BADGES
from ranking.contracts import read_table
from ranking.mall_clock import local_hour
from ranking.settings import load_settings
from training.simulator.truth import Truth


def offer_value(data_dir: str, max_cards: int = 400_000) -> dict:
    truth = Truth.load(data_dir)
    imp = read_table(data_dir, "impressions", ["user_id", "product_id", "surface", "query_id", "timestamp"])
    n = min(imp.num_rows, max_cards)
    cols = {c: imp.column(c).to_numpy()[:n] for c in ("user_id", "product_id", "query_id")}
    surface = imp.column("surface").to_numpy(zero_copy_only=False)[:n]
    hour = local_hour(imp.column("timestamp").cast("int64").to_numpy()[:n], load_settings([]).mall.timezone)
    query = np.where(np.isnan(cols["query_id"].astype(np.float64)), -1, cols["query_id"]).astype(np.int64)

    def p_order(effect: float) -> np.ndarray:
        truth.model.offer_effect = effect
        return truth.purchase_probability(cols["user_id"], cols["product_id"], hour, surface, query)

    simulated = float(truth.params.get("offer_effect", 0.0))
    with_terms, without = p_order(simulated), p_order(0.0)
    truth.model.offer_effect = simulated
    risk = truth.model.user_risk_aversion[cols["user_id"]]
    out = {"cards": int(n), "offer_effect": simulated, "mean_p_order_with": float(with_terms.mean()),
           "mean_p_order_without": float(without.mean()),
           "lift": float(with_terms.mean() / without.mean() - 1.0), "by_attribute": {}}
    groups = (("all", np.ones(n, bool)), ("risk_averse", risk >= 0.5), ("risk_taking", risk < 0.5))
    for name in ATTRIBUTE_BADGES:
        flags = truth.model.set_offer(name, np.zeros(len(truth.model.product_leaf)))
        alone = p_order(simulated)  # every other term as simulated, this attribute switched off
        truth.model.set_offer(name, flags)
        has = flags[cols["product_id"]] > 0
        row = {"share_of_cards": float(has.mean())}
        for label, users in groups:
            sel = has & users
            if sel.any():
                row[f"lift_{label}"] = float(with_terms[sel].mean() / alone[sel].mean() - 1.0)
        out["by_attribute"][name] = row
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="a simulated mall's folder (with truth/)")
    parser.add_argument("--max-cards", type=int, default=400_000, help="value the first N logged cards")
    args = parser.parse_args(argv)
    result = offer_value(args.data, args.max_cards)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
