"""A/B and interleaving analysis of the service's own logs (``shelfrank experiment analyze``).

Inputs: the event log folder (the service's ``exposures`` plus the ``clicks``, ``carts``
and ``orders`` callers posted, joined on ``request_id``) and the experiments config.

**A/B** (per experiment in ``mode = "ab"``): the unit of randomisation is the user, so
every metric is a ratio of per-user sums and its 95% interval comes from the delta
method over users (``var(X/Y) ~ (var X - 2 r cov(X,Y) + r^2 var Y) / (n mean(Y)^2)``,
r = mean X / mean Y), which is right when a user makes several requests. Metrics per
variant: users, requests, CTR (clicks / cards shown), add-to-cart rate (carts /
requests), conversion (orders / requests), GMV per user and GMV per request
(sum of price x quantity of non-cancelled orders). The relative lift of each variant
over the first (control) has a delta-method interval for the ratio of two independent
estimates (both intervals: :mod:`training.stats`). The **sample-ratio-mismatch** check
is a chi-square test of users per variant against the configured shares (p < 0.001 flags
it). **Latency guardrail**: p50/p99 of the logged per-request ranking latency per variant,
and its relative change.

**Interleaving** (``mode = "interleave"``): what the shopper did with each card is
credited to the variant whose team contributed it, three ways: clicks, orders, and GMV
(price x quantity of the card's non-cancelled orders). Per request the credit difference
``B - A`` gives the classic wins / losses / ties with a two-sided sign test (binomial,
ties dropped), and the mean difference per request with a 95% interval and a t-test.
The experiment's ``credit`` (default GMV, what the mall is run for) and ``credit_test``
(default the sign test, the classic team-draft analysis) name the winner. The two tests
ask different questions: the sign test which variant wins more requests, the mean which
earns more per request. When one variant wins many requests by a little and the other
a few by a lot (cheap clicks against expensive orders) they point opposite ways; the
analysis then says so (``tests_disagree``: opposite directions, at least one of them
significant), and an A/B test of GMV per request is the arbiter.
Cards both variants' pages held are marked ``shared`` in the log; their share is
reported (near 1, the variants barely differ and interleaving has little to compare).
Their credit is kept: team draft gives a shared card to the team that ranks it higher
more often, so it carries preference, and leaving it out was measured to cost power.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from training.stats import mean_se, normal_ci95, ratio_of_sums, relative_lift


def variant_of(experiments: pd.Series, variants: pd.Series, experiment: str) -> pd.Series:
    """The variant of ``experiment`` from the comma-joined columns (None when not in it)."""

    def pick(e: str, v: str) -> str | None:
        names, values = (e or "").split(","), (v or "").split(",")
        for name, value in zip(names, values, strict=False):
            if name == experiment:
                return value
        return None

    return pd.Series(
        [pick(e, v) for e, v in zip(experiments, variants, strict=True)], index=experiments.index
    )


def request_outcomes(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per served request: who, which experiment/variant, cards, clicks, carts, orders, GMV."""
    exp = tables["exposures"]
    if exp.empty:
        return pd.DataFrame(
            columns=[
                "request_id",
                "user_id",
                "experiment",
                "variant",
                "cards",
                "clicks",
                "carts",
                "orders",
                "gmv",
                "latency_ms",
            ]
        )
    req = exp.groupby("request_id").agg(
        user_id=("user_id", "first"),
        experiment=("experiment", "first"),
        variant=("variant", "first"),
        cards=("product_id", "size"),
        latency_ms=("latency_ms", "first"),
        timestamp=("timestamp", "first"),
    )
    shown = exp[["request_id", "product_id"]].drop_duplicates()

    def count(name: str) -> pd.Series:
        t = tables.get(name)
        if t is None or t.empty:
            return pd.Series(dtype=float)
        t = t.dropna(subset=["request_id"]).merge(shown, on=["request_id", "product_id"])
        return t.groupby("request_id").size()

    req["clicks"] = count("clicks").reindex(req.index).fillna(0)
    req["carts"] = count("carts").reindex(req.index).fillna(0)
    orders = tables.get("orders")
    if orders is not None and not orders.empty:
        o = orders.dropna(subset=["request_id"])
        o = o[~o.cancelled.astype(bool)].merge(shown, on=["request_id", "product_id"])
        o = o.assign(amount=o.price_paid * o.quantity)
        req["orders"] = o.groupby("request_id").size().reindex(req.index).fillna(0)
        req["gmv"] = o.groupby("request_id").amount.sum().reindex(req.index).fillna(0.0)
    else:
        req["orders"] = 0.0
        req["gmv"] = 0.0
    return req.reset_index()


def analyse_ab(requests: pd.DataFrame, experiment: str, variants: list[str], shares: list[float]) -> dict:
    req = requests.assign(arm=variant_of(requests.experiment, requests.variant, experiment))
    req = req[req.arm.notna()]
    req = req.assign(unit=req.user_id.fillna(-req.request_id))
    users = (
        req.groupby(["arm", "unit"])
        .agg(
            requests=("request_id", "size"),
            cards=("cards", "sum"),
            clicks=("clicks", "sum"),
            carts=("carts", "sum"),
            orders=("orders", "sum"),
            gmv=("gmv", "sum"),
        )
        .reset_index()
    )
    per_variant: dict[str, dict] = {}
    for v in variants:
        u = users[users.arm == v]
        ones = np.ones(len(u))
        metrics = {
            "ctr": ratio_of_sums(u.clicks, u.cards),
            "add_to_cart_rate": ratio_of_sums(u.carts, u.requests),
            "conversion": ratio_of_sums(u.orders, u.requests),
            "gmv_per_user": ratio_of_sums(u.gmv, ones),
            "gmv_per_request": ratio_of_sums(u.gmv, u.requests),
        }
        lat = req[req.arm == v].latency_ms.dropna()
        per_variant[v] = {
            "users": len(u),
            "requests": int(u.requests.sum()),
            "metrics": metrics,
            "latency_ms": {
                "p50": float(lat.quantile(0.5)) if len(lat) else float("nan"),
                "p99": float(lat.quantile(0.99)) if len(lat) else float("nan"),
            },
        }
    control = variants[0]
    out: dict = {"mode": "ab", "control": control, "variants": {}}
    for v in variants:
        entry = {
            "users": per_variant[v]["users"],
            "requests": per_variant[v]["requests"],
            "latency_ms": per_variant[v]["latency_ms"],
        }
        for name, est in per_variant[v]["metrics"].items():
            entry[name] = {"value": est.value, "ci95": list(est.ci95)}
            if v != control:
                lift = relative_lift(est, per_variant[control]["metrics"][name])
                entry[name]["lift"] = lift.value
                entry[name]["lift_ci95"] = list(lift.ci95)
        if v != control:
            c99 = per_variant[control]["latency_ms"]["p99"]
            entry["latency_ms"]["p99_change"] = (
                (entry["latency_ms"]["p99"] / c99 - 1) if c99 else float("nan")
            )
        out["variants"][v] = entry
    observed = np.array([per_variant[v]["users"] for v in variants], float)
    if observed.sum() > 0:
        expected = np.array(shares, float) / sum(shares) * observed.sum()
        p = float(stats.chisquare(observed, expected).pvalue) if len(variants) > 1 else 1.0
    else:
        p = float("nan")
    out["sample_ratio_mismatch"] = {
        "observed_users": observed.astype(int).tolist(),
        "expected_shares": list(shares),
        "p_value": p,
        "mismatch": bool(np.isfinite(p) and p < 0.001),
    }
    return out


CREDITS = ("clicks", "orders", "gmv")


def interleaving_credit(tables: dict[str, pd.DataFrame], experiment: str, variants: list[str]
                        ) -> pd.DataFrame:
    """Per interleaved request of ``experiment``: each credit's ``B - A`` (columns
    ``clicks``, ``orders``, ``gmv``) and the share of its cards both pages held
    (``shared``, NaN for logs written before that column); indexed by request id."""
    a, b = variants
    exp = tables["exposures"]
    exp = exp.assign(arm=variant_of(exp.experiment, exp.variant, experiment))
    exp = exp[exp.arm.notna() & exp.team.notna()]
    requests = pd.Index(exp.request_id.unique(), name="request_id")
    cards = exp.assign(side=np.where(exp.team == b, 1.0, np.where(exp.team == a, -1.0, 0.0)))
    shared = cards.shared.astype(float) if "shared" in cards else pd.Series(np.nan, cards.index)
    out = pd.DataFrame(index=requests)
    empty = pd.DataFrame(columns=["request_id", "product_id"])
    clicks = tables.get("clicks", empty)[["request_id", "product_id"]].assign(value=1.0)
    orders = tables.get("orders")
    if orders is None or orders.empty:
        orders = empty.assign(quantity=0, price_paid=0.0, cancelled=False)
    orders = orders.dropna(subset=["request_id"])
    orders = orders[~orders.cancelled.astype(bool)]
    events = {"clicks": clicks,
              "orders": orders[["request_id", "product_id"]].assign(value=1.0),
              "gmv": orders[["request_id", "product_id"]].assign(
                  value=(orders.price_paid * orders.quantity).astype(float))}
    keys = cards[["request_id", "product_id", "side"]]
    for name, ev in events.items():
        got = ev.merge(keys, on=["request_id", "product_id"])
        out[name] = (got.value * got.side).groupby(got.request_id).sum().reindex(requests).fillna(0.0)
    out["shared"] = shared.groupby(cards.request_id).mean().reindex(requests)
    return out


def credit_test(difference: np.ndarray, names: tuple[str, str]) -> dict:
    """Sign test and mean-difference test of per-request credit differences ``B - A``."""
    a, b = names
    d = np.asarray(difference, float)
    wins_a, wins_b = int((d < 0).sum()), int((d > 0).sum())
    decided = wins_a + wins_b
    sign_p = float(stats.binomtest(wins_b, decided, 0.5).pvalue) if decided else float("nan")
    n = len(d)
    mean = float(d.mean()) if n else float("nan")
    se = mean_se(d)
    t_p = float(2 * stats.t.sf(abs(mean) / se, n - 1)) if se and np.isfinite(se) and se > 0 else float("nan")
    return {
        "wins": {a: wins_a, b: wins_b},
        "ties": int(n - decided),
        "preference": (wins_b - wins_a) / decided if decided else float("nan"),
        "sign_test_p_value": sign_p,
        "mean_difference": mean,
        "mean_difference_ci95": normal_ci95(mean, se),
        "t_test_p_value": t_p,
        "winner_by_sign_test": (b if wins_b > wins_a else a) if decided and sign_p < 0.05 else None,
        "winner_by_mean": (b if mean > 0 else a) if np.isfinite(t_p) and t_p < 0.05 else None,
    }


def analyse_interleaving(tables: dict[str, pd.DataFrame], experiment: str, variants: list[str],
                         credit: str = "gmv", test: str = "sign") -> dict:
    """Wins, mean credit difference and winner per credit; the headline is ``credit``'s
    by ``test`` (``sign`` or ``mean``)."""
    per = interleaving_credit(tables, experiment, variants)
    by_credit = {name: credit_test(per[name].to_numpy(), tuple(variants)) for name in CREDITS}
    head = by_credit[credit]
    sign_winner = head["winner_by_sign_test"]
    mean_winner = head["winner_by_mean"]
    return {
        "mode": "interleave",
        "requests": len(per),
        "credit": credit,
        "credit_test": test,
        **{k: v for k, v in head.items() if not k.startswith("winner")},
        "winner": sign_winner if test == "sign" else mean_winner,
        # opposite directions, at least one of them significant
        "tests_disagree": bool((sign_winner or mean_winner)
                               and np.sign(head["preference"]) * np.sign(head["mean_difference"]) < 0),
        "shared_card_share": float(per.shared.mean()) if per.shared.notna().any() else None,
        "by_credit": by_credit,
    }


def analyse(events_dir: Path, config) -> dict:
    """Every experiment of ``config`` (an ExperimentsConfig) over the log in ``events_dir``."""
    tables, torn = load_tables(events_dir)
    return analyse_tables(tables, config, torn)


def load_tables(events_dir: Path) -> tuple[dict[str, pd.DataFrame], int]:
    """The log's tables as pandas frames, and how many torn last lines were skipped.

    A row repeating its table's unique key (a click or order posted again by a retry, in a
    later batch: the service accepts it) is dropped, the first copy kept, as ``merge-events``
    does: otherwise it counted twice in the clicks, orders and GMV of its variant."""
    from ranking.contracts import TABLES
    from ranking.contracts.io import first_copies
    from ranking.event_log import read_event_log

    report = read_event_log(events_dir)
    return ({name: (first_copies(t, TABLES[name]) if name in TABLES else t).to_pandas()
             for name, t in report.tables.items()}, report.partial_lines)


def analyse_tables(tables: dict[str, pd.DataFrame], config, torn_lines: int = 0) -> dict:
    """:func:`analyse` of tables already loaded (:func:`load_tables`)."""
    requests = request_outcomes(tables)
    out = {"requests": len(requests), "torn_lines_skipped": torn_lines, "experiments": {}}
    for e in config.experiments:
        names = [v.name for v in e.variants]
        if e.mode == "interleave":
            out["experiments"][e.name] = analyse_interleaving(tables, e.name, names, e.credit, e.credit_test)
        else:
            out["experiments"][e.name] = analyse_ab(requests, e.name, names, [v.share for v in e.variants])
    return out
