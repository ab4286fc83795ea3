"""Catalog changes in the middle of a closed loop (issue 26): a ban and a price cut reported
to a running service while simulated shoppers browse it, and what its own log shows after.

:func:`run_catalog_change` serves one bundle, plays the first ``sessions // 2`` sessions,
then, as an operator would:

* bans the product the service showed most so far (``POST /v1/catalog/bans``), and
* cuts the price of the ``cut_products`` next most shown products by ``cut_share``
  (``PUT /v1/catalog/products``); the simulated shoppers' truth sees the new prices too
  (a cheaper product is worth more to them, as the simulator's purchase utility says),

waits until a rerank of those products shows the change (the ban dropped, the new prices
on the cards), and plays the other half. :func:`catalog_change_outcome` then reads the
service's log: the banned product's impressions before the change, while it propagated
and after it (the claim: none after), and the cut products' share of orders and of
impressions before and after, with delta-method 95% intervals over pages (a page's orders
and impressions are one unit; the pages of one session are treated as independent).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import numpy as np
import pandas as pd

from training.stats import normal_ci95

Serve = Callable[[Path, Path, list[str]], AbstractContextManager[str]]
TOKEN = "s3cret"  # the operator token shelfrank.local_service starts the service with


def most_shown(exposures: pd.DataFrame, cut_products: int) -> tuple[int, list[int]]:
    """(the product to ban, the products to cut): the most shown, then the next ones."""
    counts = exposures.product_id.value_counts()
    if len(counts) < cut_products + 1:
        raise ValueError(f"the first half showed {len(counts)} products; {cut_products + 1} are needed")
    top = [int(p) for p in counts.index[: cut_products + 1]]
    return top[0], top[1:]


def share_by_page(events: pd.DataFrame, products: list[int]) -> dict:
    """Share of ``events`` (one row per impression or order, with ``request_id`` and
    ``product_id``) that fall on ``products``: the ratio of sums over pages, with the
    delta method's standard error (pages as units)."""
    if events.empty:
        return {"share": float("nan"), "se": float("nan"), "events": 0, "pages": 0}
    hit = events.product_id.isin(products).to_numpy(float)
    per_page = pd.DataFrame({"page": events.request_id.to_numpy(), "hit": hit, "all": 1.0})
    per_page = per_page.groupby("page").sum()
    a, b = per_page["hit"].to_numpy(), per_page["all"].to_numpy()
    n, share = len(a), a.sum() / b.sum()
    se = float(np.sqrt(np.var(a - share * b, ddof=1) / n) / b.mean()) if n > 1 else float("nan")
    return {"share": float(share), "se": se, "events": int(b.sum()), "pages": n}


def _compare(before: dict, after: dict) -> dict:
    diff = after["share"] - before["share"]
    se = float(np.hypot(before["se"], after["se"]))
    ci = normal_ci95(diff, se)
    return {"before": before, "after": after, "difference": diff, "ci95": ci,
            "ci95_above_zero": bool(ci[0] > 0)}


def catalog_change_outcome(exposures: pd.DataFrame, orders: pd.DataFrame, changed_ms: int, visible_ms: int,
                           banned: int, cut: list[int]) -> dict:
    """What the log shows around a change acknowledged at ``changed_ms`` and seen on a page
    at ``visible_ms`` (epoch ms): the banned product's impressions, the cut products' shares."""
    ts = exposures.timestamp.to_numpy(np.int64)
    shown = exposures.product_id.to_numpy() == banned
    ban = {"impressions_before": int((shown & (ts < changed_ms)).sum()),
           "impressions_while_propagating": int((shown & (ts >= changed_ms) & (ts <= visible_ms)).sum()),
           "impressions_after": int((shown & (ts > visible_ms)).sum())}
    before_e, after_e = exposures[ts < changed_ms], exposures[ts > visible_ms]
    ots = orders.timestamp.to_numpy(np.int64)
    before_o, after_o = orders[ots < changed_ms], orders[ots > visible_ms]
    return {"ban": {"product_id": banned, **ban},
            "price_cut": {"product_ids": cut,
                          "order_share": _compare(share_by_page(before_o, cut), share_by_page(after_o, cut)),
                          "impression_share": _compare(share_by_page(before_e, cut),
                                                       share_by_page(after_e, cut))}}


def wait_visible(client, banned: int, prices: dict[int, float], timeout_s: float = 10.0) -> int:
    """Epoch ms at which a rerank of the changed products first shows every change (the ban
    dropped, the new prices on the cards); ``TimeoutError`` if it never does."""
    body = {"surface": "homepage", "candidates": [banned, *prices], "page_size": len(prices) + 1}
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        r = client.post("/v1/rerank", json=body)
        r.raise_for_status()
        cards = {c["product_id"]: c for c in r.json()["cards"]}
        repriced = all(abs(cards[p]["price"] - v) < 0.005 for p, v in prices.items() if p in cards)
        if banned not in cards and repriced:
            return int(time.time() * 1000)
        time.sleep(0.02)
    raise TimeoutError(f"the service did not show the ban of {banned} and {len(prices)} new prices "
                       f"in {timeout_s} s")


def post_changes(client, banned: int, prices: dict[int, float]) -> int:
    """Report the ban and the new prices as an operator; epoch ms once both are acknowledged."""
    auth = {"Authorization": f"Bearer {TOKEN}"}
    client.post("/v1/catalog/bans", headers=auth, json={
        "product_ids": [banned], "store_ids": [], "reason": "closed loop: reported as counterfeit",
        "unban": False}).raise_for_status()
    client.put("/v1/catalog/products", headers=auth,
               json=[{"product_id": p, "price": v} for p, v in prices.items()]).raise_for_status()
    return int(time.time() * 1000)


def _read_log(events: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    from ranking.event_log import read_event_log

    tables = read_event_log(events).tables
    exp = tables["exposures"].select(["request_id", "timestamp", "product_id"]).to_pandas()
    orders = tables.get("orders")
    orders = (orders.select(["request_id", "timestamp", "product_id"]).to_pandas() if orders is not None
              else pd.DataFrame({"request_id": [], "timestamp": [], "product_id": []}))
    for frame in (exp, orders):
        stamps = pd.to_datetime(frame.timestamp, utc=True)  # whatever unit the log's type has
        frame["timestamp"] = (stamps - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)
    return exp, orders


def run_catalog_change(data: Path, bundle: Path, sessions: int, seed: int, simulator, serve: Serve,
                       work: Path, cut_products: int = 20, cut_share: float = 0.3,
                       progress: bool = True) -> dict:
    """Play half the sessions, ban and cut prices through the API, play the rest; the outcome."""
    import shutil

    import httpx2

    from training.experiments.closed_loop import Shoppers, simulate_traffic

    if not 0 < cut_share < 1:
        raise ValueError(f"cut_share must be between 0 and 1, got {cut_share}")
    shoppers = Shoppers(data, seed, simulator)
    events = work / "events"
    shutil.rmtree(events, ignore_errors=True)
    half = sessions // 2
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with serve(bundle, events, [f"serving.admin_token={TOKEN}"]) as url, \
            httpx2.Client(base_url=url, timeout=30.0, headers=auth) as client:
        simulate_traffic(url, shoppers, half, progress=progress, token=TOKEN)
        time.sleep(1.0)  # the first half's exposures reach the log (flushed every 0.5 s)
        banned, cut = most_shown(_read_log(events)[0], cut_products)
        price = {int(c["product_id"]): float(c["price"]) for c in client.post("/v1/rerank", json={
            "surface": "homepage", "candidates": cut, "page_size": len(cut)}).json()["cards"]}
        prices = {p: round(v * (1 - cut_share), 2) for p, v in price.items()}
        shoppers.set_prices(prices)
        changed = post_changes(client, banned, prices)
        visible = wait_visible(client, banned, prices)
        simulate_traffic(url, shoppers, sessions - half, first_session=half, progress=progress, token=TOKEN)
        time.sleep(1.0)
    exposures, orders = _read_log(events)
    return {"sessions": sessions, "seed": seed, "bundle": str(bundle), "cut_share": cut_share,
            "visible_after_ms": visible - changed, "events": str(events),
            **catalog_change_outcome(exposures, orders, changed, visible, banned, sorted(prices))}
