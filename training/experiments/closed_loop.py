"""Closed loop: simulated shoppers send real HTTP requests to a running service.

``simulate_traffic`` plays ``sessions`` homepage sessions against ``URL``: each session
draws a user, an hour (the simulator's users; hours from the logged traffic) and a
mission (the leaf the shopper is shopping for now, as the simulator draws it), then asks
``POST /v1/homepage`` for page after page and lets the simulator's behaviour model and
truth decide what the shopper does with the cards it got: each card at position k is
examined with the simulator's examination probability, clicked with the truth's
P(click | examined) under the mission's pull on that page, bought with P(order | click)
(one unit at the card's price). Each page's impressions, clicks, carts and orders are
posted to ``/v1/events`` exactly as the frontend would, before the next page is asked
for, so a live service can react within the session and the service's own log is what
``shelfrank experiment analyze`` reads. The session ends on an order, on fatigue or at
the page budget (simulator settings). Every session, and every page of it, has its own
random stream (seed, session number, page), so two arms see the same users at the same
hours with the same missions and dice ("common random numbers"), which narrows the
comparison.

``sessions_to_detect`` measures, by resampling the recorded sessions, how many sessions
an A/B test (Welch t-test on an outcome per session, two arms) and interleaving (the same
outcome credited to the team whose card earned it, per session) need to find the A/B
test's winner at p < 0.05 with 80% power.
"""

from __future__ import annotations

import functools
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ranking.experiments import VARIANT_HEADER
from ranking.settings import SimulatorSettings
from ranking.surfaces import CHANNEL, HOMEPAGE, SURFACE_CODES

SURFACE_HOMEPAGE = SURFACE_CODES[HOMEPAGE]
MAX_PAGES = 50  # simulator.session_max_pages' bound: order ids of a session's pages never collide


@dataclass
class SessionOutcome:
    session: int
    user_id: int
    hour: int
    request_id: int  # the session's first page
    experiment: str | None
    variant: str | None
    cards: int
    clicks: int
    orders: int
    gmv: float
    latency_ms: float  # mean over the session's pages
    pages: int = 1
    mission_category_id: int = -1
    surface: str = HOMEPAGE  # homepage, or channel: the session browsed the subsidy channel


class Shoppers:
    """The simulator's users, hours, missions and behaviour, for answering pages.

    A session is a shopper (user, hour) with a mission (a leaf drawn from their taste at
    that hour, as the simulator draws it) browsing up to ``session_max_pages`` homepage
    pages; the mission's pull fades by ``mission_half_life_pages`` (simulator settings).
    """

    def __init__(self, data_dir: Path, seed: int, simulator: SimulatorSettings | None = None,
                 channel_share: float = 0.0) -> None:
        from training.simulator.truth import Truth

        data_dir = Path(data_dir)
        self.truth = Truth.load(data_dir)
        self.sessions = simulator or SimulatorSettings()
        users = pd.read_parquet(data_dir / "users.parquet", columns=["user_id"])
        self.user_ids = users.user_id.to_numpy(np.int64)
        imp = pd.read_parquet(
            data_dir / "impressions.parquet", columns=["request_id", "timestamp", "surface"]
        )
        imp = imp[imp.surface == "homepage"].drop_duplicates("request_id")
        from ranking.mall_clock import local_hour, to_epoch_ms

        hours = local_hour(to_epoch_ms(imp.timestamp))
        counts = np.bincount(hours, minlength=24).astype(float) + 1.0
        self.hour_p = counts / counts.sum()
        self.seed = seed
        self.channel_share = channel_share  # channels.closed_loop_share: sessions on the subsidy channel

    def surface_of(self, session: int) -> str:
        """The surface a session browses: the subsidy channel for ``channel_share`` of sessions
        (its own random stream, so the other draws are those of a homepage-only loop)."""
        if self.channel_share <= 0:
            return HOMEPAGE
        return CHANNEL if np.random.default_rng([self.seed, session, 99]).random() < self.channel_share \
            else HOMEPAGE

    def draw(self, session: int) -> tuple[int, int, np.random.Generator]:
        rng = np.random.default_rng([self.seed, session])
        return int(rng.choice(self.user_ids)), int(rng.choice(24, p=self.hour_p)), rng

    def mission(self, session: int, user: int, hour: int) -> int:
        """The session's mission leaf (index), from its own random stream."""
        from training.simulator.behaviour import slot_of_hour

        slot = slot_of_hour(np.array([hour]))
        probs = self.truth.model.leaf_choice_probabilities(np.array([user]), slot)[0]
        return int(np.random.default_rng([self.seed, session, 0]).choice(len(probs), p=probs / probs.sum()))

    def mission_strength(self, page: int) -> float:
        from training.simulator.behaviour import mission_strength

        s = self.sessions
        return float(mission_strength(np.array(page), s.mission_boost, s.mission_half_life_pages))

    def page_rng(self, session: int, page: int) -> np.random.Generator:
        """The dice of one page of one session: the same in every arm (common random numbers)."""
        return np.random.default_rng([self.seed, session, 1 + page])

    def set_prices(self, prices: dict[int, float]) -> None:
        """A price change reported mid-run: the truth values those products at their new price
        from now on (the model indexes products by id, as :meth:`card_probabilities` passes them)."""
        model = self.truth.model
        price = model.product_price.copy()  # pages in flight keep the array they read
        ids = np.fromiter(prices, np.int64, len(prices))
        if len(ids) and (ids.min() < 0 or ids.max() >= len(price)):
            raise ValueError(f"products {ids.tolist()} are not all in the simulated catalog")
        price[ids] = np.fromiter(prices.values(), np.float64, len(prices))
        model.product_price = price

    def goes_on(self, rng: np.random.Generator, ordered: np.ndarray, page: int) -> bool:
        """After a page: an order ends the session, as do fatigue and the page budget."""
        tired = rng.random() >= self.sessions.session_continue_probability
        return not (ordered.any() or tired or page + 1 >= self.sessions.session_max_pages)

    def react(
        self, user: int, hour: int, cards: list[dict], rng: np.random.Generator,
        mission: tuple[int, float] | None = None, surface: str = HOMEPAGE,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(clicked, carted, ordered) per card, from the truth (dice drawn for 100 slots, in order).

        The simulator's funnel is P(cart | click) = P(order | cart) = sqrt(P(order | click))
        (``training.simulator.behaviour``). Orders are rolled against P(order | click)
        directly; a clicked card that was not ordered is carted with probability
        (sqrt(p) - p) / (1 - p), so P(cart | click) = sqrt(p) and every order was carted.
        The cart dice come after the others, so clicks and orders are the same draws as
        before carts were rolled. ``mission``: (leaf index, strength) of the session's page.
        """
        n = len(cards)
        u_exam, u_click, u_order = rng.random(100), rng.random(100), rng.random(100)
        if n == 0:
            return np.zeros(0, bool), np.zeros(0, bool), np.zeros(0, bool)
        u_cart = rng.random(100)
        products = np.array([c["product_id"] for c in cards], np.int64)
        position = np.array([c["position"] for c in cards])
        args = (np.full(n, user), products, np.full(n, hour), position)
        on = {} if surface == HOMEPAGE else {"surface": surface}  # the channel's examination and pull
        if mission is None:
            p_exam, p_click, p_order = self.card_probabilities(*args, **on)
        else:
            p_exam, p_click, p_order = self.card_probabilities(
                *args, mission_leaf=np.full(n, mission[0]), mission_strength=np.full(n, mission[1]), **on)
        examined = u_exam[:n] < p_exam
        clicked = examined & (u_click[:n] < p_click)
        ordered = clicked & (u_order[:n] < p_order)
        with np.errstate(invalid="ignore", divide="ignore"):
            p_cart_only = np.where(p_order < 1, (np.sqrt(p_order) - p_order) / (1 - p_order), 0.0)
        carted = ordered | (clicked & (u_cart[:n] < p_cart_only))
        return clicked, carted, ordered

    def card_probabilities(self, users: np.ndarray, products: np.ndarray, hours: np.ndarray,
                           positions: np.ndarray, mission_leaf: np.ndarray | None = None,
                           mission_strength: np.ndarray | None = None, surface: str = HOMEPAGE
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(P(examined), P(click | examined), P(order | click)) of homepage (or ``surface``) cards:
        what :meth:`react` rolls against, and what ``experiment page-value`` takes expectations of."""
        from training.simulator.behaviour import examination

        surface = np.full(len(users), SURFACE_CODES[surface])
        p_click, p_order = self.truth.click_and_order_probability(
            users, products, hours, surface, mission_leaf=mission_leaf, mission_strength=mission_strength)
        return examination(positions, surface), p_click, p_order


def _iso(ms: int) -> str:
    return pd.Timestamp(ms, unit="ms", tz="UTC").isoformat()


def page_events(page: dict, user: int, clicked: np.ndarray, carted: np.ndarray, ordered: np.ndarray,
                order_base: int, surface: str = HOMEPAGE) -> tuple[dict[str, list[dict]], float]:
    """The events a frontend posts for one page (every card shown is an impression, so
    ``merge-events`` turns the traffic into training rows), and the page's GMV."""
    cards, rid, now = page["cards"], page["request_id"], int(time.time() * 1000)
    batch: dict[str, list[dict]] = {
        "impressions": [
            {"request_id": rid, "timestamp": _iso(now), "user_id": user, "surface": surface,
             "query_id": None, "product_id": c["product_id"], "position": c["position"],
             "variant": page.get("variant") or "default", "propensity": c["propensity"]}
            for c in cards
        ],
        "clicks": [], "carts": [], "orders": [],
    }
    gmv = 0.0
    for i, c in enumerate(cards):
        if not clicked[i]:
            continue
        base = {"request_id": rid, "user_id": user, "product_id": c["product_id"]}
        batch["clicks"].append({**base, "timestamp": _iso(now), "position": c["position"]})
        if carted[i]:
            batch["carts"].append({**base, "timestamp": _iso(now + 1)})
        if ordered[i]:
            batch["orders"].append({**base, "order_id": order_base + i, "timestamp": _iso(now + 2),
                                    "store_id": c["store_id"], "price_paid": c["price"], "quantity": 1,
                                    "cancelled": False})
            gmv += float(c["price"])
    return {k: v for k, v in batch.items() if v}, gmv


def run_session(
    client, shoppers: Shoppers, session: int, page_size: int, header: str | None, order_base: int
) -> SessionOutcome:
    """One shopper's session: page after page, each page's events posted before the next
    page is asked for (so a live service can react), until an order, fatigue or the budget."""
    user, hour, _ = shoppers.draw(session)
    leaf = shoppers.mission(session, user, hour)
    surface = shoppers.surface_of(session)
    path = "/v1/channel/subsidy" if surface == CHANNEL else "/v1/homepage"
    headers = {VARIANT_HEADER: header} if header else {}
    pages: list[dict] = []
    totals = {"cards": 0, "clicks": 0, "orders": 0, "gmv": 0.0, "latency": 0.0}
    for n in range(shoppers.sessions.session_max_pages):
        rng = shoppers.page_rng(session, n)
        started = time.perf_counter()
        r = client.post(path, headers=headers,
                        json={"user_id": user, "page_size": page_size, "context": {"hour": hour}})
        totals["latency"] += (time.perf_counter() - started) * 1000
        r.raise_for_status()
        page = r.json()
        pages.append(page)
        clicked, carted, ordered = shoppers.react(user, hour, page["cards"], rng,
                                                  (leaf, shoppers.mission_strength(n)), surface)
        batch, gmv = page_events(page, user, clicked, carted, ordered,
                                 order_base + (session * MAX_PAGES + n) * 100, surface)
        if batch:
            client.post("/v1/events", json=batch).raise_for_status()
        for key, value in (("cards", len(page["cards"])), ("clicks", int(clicked.sum())),
                           ("orders", int(ordered.sum())), ("gmv", gmv)):
            totals[key] += value
        if not shoppers.goes_on(rng, ordered, n):
            break
        time.sleep(shoppers.sessions.closed_loop_think_ms / 1000.0)  # reading the page, as a shopper would
    first = pages[0]
    return SessionOutcome(session, user, hour, first["request_id"], first.get("experiment"),
                          first.get("variant"), totals["cards"], totals["clicks"], totals["orders"],
                          totals["gmv"], totals["latency"] / len(pages), len(pages),
                          int(shoppers.truth.first_leaf_category + leaf), surface)


def simulate_traffic(
    url: str,
    shoppers: Shoppers,
    sessions: int,
    page_size: int = 20,
    concurrency: int = 4,
    header: str | None = None,
    first_session: int = 0,
    progress: bool = True,
    token: str | None = None,
) -> list[SessionOutcome]:
    """Play ``sessions`` visits against the service at ``url``; return what happened
    (``token``: the bearer the frontend writes its events with, when the service wants one)."""
    import httpx2
    from tqdm import tqdm

    order_base = int(time.time()) * 10_000_000
    headers = {"Authorization": f"Bearer {token}"} if token else None
    with httpx2.Client(base_url=url, timeout=30.0, headers=headers) as client, \
            ThreadPoolExecutor(concurrency) as pool:
        futures = [
            pool.submit(run_session, client, shoppers, first_session + s, page_size, header, order_base)
            for s in range(sessions)
        ]
        return [f.result() for f in tqdm(futures, desc="sessions", unit="session", disable=not progress)]


def outcomes_frame(outcomes: list[SessionOutcome]) -> pd.DataFrame:
    return pd.DataFrame([asdict(o) for o in outcomes])


# ---- how many sessions to detect the difference ----------------------------------------
# Each resample is drawn as before (the same calls on the same generator, in the same order);
# the tests then run over a block of resamples at once (a row each, so each row's statistic is
# the one a 1-D call gives) instead of one scipy call per resample, the cost of this search.
# Blocks hold at most this many values (a resample of n sessions is a row of n).
_BLOCK_VALUES = 1 << 21


def _blocks(trials: int, width: int) -> list[int]:
    """Resamples per block: ``trials`` in blocks of at most ``_BLOCK_VALUES`` values."""
    per = max(1, _BLOCK_VALUES // max(width, 1))
    return [min(per, trials - start) for start in range(0, trials, per)]


def _ab_detects(rng: np.random.Generator, a: np.ndarray, b: np.ndarray, direction: int, n: int,
                trials: int) -> float:
    from scipy import stats

    hits, m = 0, n // 2
    for size in _blocks(trials, 2 * m):
        x, y = np.empty((size, m)), np.empty((size, m))
        for i in range(size):
            x[i], y[i] = rng.choice(a, m), rng.choice(b, m)
        rows = np.sign(y.mean(axis=1) - x.mean(axis=1)) == direction
        if rows.any():
            hits += int((stats.ttest_ind(y[rows], x[rows], axis=1, equal_var=False).pvalue < 0.05).sum())
    return hits / trials


@functools.lru_cache(maxsize=65536)
def _sign_test_p(wins: int, games: int) -> float:
    """The two-sided binomial test's p of ``wins`` in ``games`` at 0.5 (a pure function of both)."""
    from scipy import stats

    return float(stats.binomtest(wins, games, 0.5).pvalue)


def _interleave_detects(rng: np.random.Generator, difference: np.ndarray, direction: int, n: int,
                        trials: int, test: str) -> float:
    from scipy import stats

    hits = 0
    for size in _blocks(trials, n):
        s = np.empty((size, n))
        for i in range(size):
            s[i] = rng.choice(difference, n)
        if test == "sign":
            wins, losses = (np.sign(s) == direction).sum(axis=1), (np.sign(s) == -direction).sum(axis=1)
            hits += sum(_sign_test_p(int(w), int(w + v)) < 0.05 for w, v in zip(wins, losses, strict=True)
                        if w > v)
            continue
        rows = (np.sign(s.mean(axis=1)) == direction) & (s.std(axis=1) > 0)
        if rows.any():
            hits += int((stats.ttest_1samp(s[rows], 0.0, axis=1).pvalue < 0.05).sum())
    return hits / trials


def smallest_n(detects, power: float = 0.8, lo: int = 20, hi: int = 2_000_000) -> int | None:
    """Smallest session count (on a x1.25 grid) whose detection rate reaches ``power``."""
    n = lo
    while n <= hi:
        if detects(n) >= power:
            return n
        n = int(n * 1.25) + 1
    return None


def sessions_to_detect(a: np.ndarray, b: np.ndarray, difference: np.ndarray,
                       seed: int = 7, trials: int = 200, reach: int = 25) -> dict:
    """Sessions an A/B test and interleaving need to find the A/B test's winner.

    ``a`` and ``b``: one outcome per A/B session of control and treatment (e.g. GMV);
    ``difference``: per interleaved session, the same outcome's credit treatment minus
    control. The winner is the direction of the A/B difference over all sessions. A
    resample of n sessions detects it when its test says p < 0.05 in that direction: a
    Welch t-test over n/2 + n/2 A/B sessions (``ab``); over n interleaved sessions the
    sign test of wins and losses (``interleaving``, the classic team-draft analysis and
    ``experiment analyze``'s default) and a t-test of the mean credit difference
    (``interleaving_mean_test``). Each n is ``trials`` resamples; the answer is the
    smallest n with 80% power; None when not within ``reach`` times the sessions recorded
    (resampling far past the data says little, and costs minutes).
    """
    rng = np.random.default_rng(seed)
    a, b = np.asarray(a, float), np.asarray(b, float)
    d = np.asarray(difference, float)
    if not (len(a) and len(b)):
        return {"winner": None, "ab": None, "interleaving": None, "interleaving_mean_test": None}
    direction = int(np.sign(b.mean() - a.mean())) or 1
    hi = reach * (len(a) + len(b) + len(d))
    out: dict = {"winner": "treatment" if direction > 0 else "control", "searched_up_to": hi,
                 "ab": smallest_n(lambda n: _ab_detects(rng, a, b, direction, n, trials), hi=hi)}
    for key, test in (("interleaving", "sign"), ("interleaving_mean_test", "mean")):
        out[key] = smallest_n(lambda n, t=test: _interleave_detects(rng, d, direction, n, trials, t),
                              hi=hi) if len(d) else None
    if out["ab"] and out["interleaving"]:
        out["ab_over_interleaving"] = out["ab"] / out["interleaving"]
    return out


def detection_by_outcome(tables: dict[str, pd.DataFrame], ab_experiment: str, interleave_experiment: str,
                         control: str, treatment: str, seed: int = 7, credit_shared: bool = True) -> dict:
    """:func:`sessions_to_detect` for GMV (the headline), clicks and orders, from an event log
    holding an A/B experiment and an interleaving of the same two variants.
    ``credit_shared=False`` leaves the cards both pages held out of the interleaving credit
    (the alternative docs/experiments.md measures)."""
    from training.experiments.analysis import interleaving_credit, request_outcomes, variant_of

    requests = request_outcomes(tables)
    arm = variant_of(requests.experiment, requests.variant, ab_experiment)
    credited = tables
    if not credit_shared:
        exp = tables["exposures"]
        credited = {**tables, "exposures": exp[~exp.shared.fillna(False).astype(bool)]}
    credit = interleaving_credit(credited, interleave_experiment, [control, treatment])
    if not (arm == control).any() or not (arm == treatment).any():
        raise ValueError(f"the log has no requests of both {control!r} and {treatment!r} in A/B "
                         f"experiment {ab_experiment!r}")
    if credit.empty:
        raise ValueError(f"the log has no requests of interleaving experiment {interleave_experiment!r}")
    by = {}
    for outcome in ("gmv", "clicks", "orders"):
        a = requests.loc[arm == control, outcome].to_numpy(float)
        b = requests.loc[arm == treatment, outcome].to_numpy(float)
        by[outcome] = sessions_to_detect(a, b, credit[outcome].to_numpy(), seed=seed)
    return {"outcome": "gmv", **by["gmv"], "by_outcome": by}
