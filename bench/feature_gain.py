"""Each feature's share of a trained model's total split gain, and the share of a named set.

``python -m bench.feature_gain BUNDLE [--features a,b,...] [--top N]`` loads a bundle
(``models/latest`` or any bundle folder), reads LightGBM's total gain per feature of its
ranking model, and prints every feature's share of the total (largest first, ``--top`` of
them) and the summed share of ``--features`` (default: the trust and offer features and
subsidy depth, :data:`ranking.card_badges.OFFER_COLUMNS`). The last line is one JSON object
with the set's share and each member's, for a note or a script.
"""

from __future__ import annotations

import argparse
import json

from ranking.bundle import load_bundle
from ranking.card_badges import OFFER_COLUMNS


def gain_shares(importance: dict[str, float]) -> dict[str, float]:
    """Each feature's share of the total gain (0 for all when the model never split)."""
    total = sum(importance.values())
    return {name: (gain / total if total > 0 else 0.0) for name, gain in importance.items()}


def set_share(shares: dict[str, float], names: list[str]) -> float:
    """The summed share of ``names``; a name the model does not know is an error."""
    unknown = [n for n in names if n not in shares]
    if unknown:
        raise ValueError(f"features the model does not have: {unknown}")
    return sum(shares[n] for n in names)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", help="a bundle folder, e.g. models/latest")
    parser.add_argument("--features", default=",".join(OFFER_COLUMNS),
                        help="comma-separated feature names whose summed share to report")
    parser.add_argument("--top", type=int, default=60, help="print this many features, largest first")
    args = parser.parse_args(argv)
    bundle = load_bundle(args.bundle)
    shares = gain_shares(bundle.model.importance())
    names = [n.strip() for n in args.features.split(",") if n.strip()]
    ranked = sorted(shares.items(), key=lambda kv: -kv[1])
    for rank, (name, share) in enumerate(ranked[: args.top], start=1):
        mark = " *" if name in names else ""
        print(f"{rank:3d}  {share:7.2%}  {name}{mark}")
    result = {"bundle": bundle.version, "features": names, "share": set_share(shares, names),
              "each": {n: shares[n] for n in names},
              "rank": {n: [name for name, _ in ranked].index(n) + 1 for n in names}}
    print(f"share of the {len(names)} named features (*): {result['share']:.2%}")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
