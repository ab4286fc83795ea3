"""What happens after an order: cancellation, shipping, delivery, returns, reviews, tickets.

All of it follows the store's and product's latent truth (never observed directly):

* cancelled by the store with ``p = 0.01 + 0.10 (1 - stability)``
* hours to ship: log-normal, median ``6 + 60 (1 - logistics_speed)^1.5``, sigma 0.5
* days in transit: gamma(shape 4), mean ``1.0 + 2.5 (1 - logistics_speed)``; the promise
  is the leaf's ``promised_days``; a parcel still in transit at the end of the simulated
  period has no ``delivered_at``
* returns (delivered orders): quality ``0.01 + 0.30 (1 - quality)^2``, not as described
  ``0.01 + 0.12 (1 - info_completeness)^2``, no-reason 0.03, other 0.01
* reviews (40% of delivered orders): rating ``round(1 + 4 sigmoid(4 (quality - 0.45)
  - 1.2 late + 1.0 (service_quality - 0.5) - 1.5 quality_return + 0.6) + N(0, 0.6))``
* service tickets: ``p = 0.04 + 0.30 late + 0.60 returned``; first response log-normal
  with median ``30 + 3600 (1 - service_quality)^2`` seconds; resolved with
  ``p = 0.55 + 0.43 service_quality``; an unresolved ticket escalates to a dispute with
  ``p = 0.2 + 0.6 (1 - service_quality)``
* an order a creator's content brought (:mod:`training.simulator.creators`) follows the
  creator's conduct too, with ``misled = 1 - service_conduct`` (0 for other orders): not as
  described ``+ 0.10 misled^2``, ticket ``+ 0.25 misled``, first response median
  ``+ 1800 misled`` seconds, dispute ``+ 0.3 misled``
"""

from __future__ import annotations

import numpy as np

from training.simulator.behaviour import sigmoid
from training.simulator.world import DAY_MS, World

HOUR_MS = 3_600_000
REASONS = np.array(["quality", "not_as_described", "no_reason", "other"])


def fulfil(world: World, orders: dict[str, np.ndarray], ticket_base: int,
           rng: np.random.Generator, misled: np.ndarray | None = None) -> dict[str, dict[str, np.ndarray]]:
    """Shipments, returns, reviews and service tickets for a chunk of orders.

    Adds the ``cancelled`` column to ``orders`` in place. ``misled``: per order, how far a
    creator who brought it oversold it (0 none; see the module docstring).
    """
    w = world
    n = len(orders["order_id"])
    store = orders["store_id"].astype(np.int64)
    prod = orders["product_id"]
    ts = orders["timestamp"]
    speed = w.store_logistics_speed[store]
    service = w.store_service_quality[store]
    stability = w.store_stability[store]
    quality = w.product_quality[prod]
    info = w.product_info[prod]
    misled = np.zeros(n) if misled is None else misled

    cancelled = rng.random(n) < 0.01 + 0.10 * (1 - stability)
    orders["cancelled"] = cancelled
    ship_hours = rng.lognormal(np.log(6 + 60 * (1 - speed) ** 1.5), 0.5)
    shipped_at = ts + (ship_hours * HOUR_MS).astype(np.int64)
    transit_days = rng.gamma(4.0, (1.0 + 2.5 * (1 - speed)) / 4.0)
    delivered_at = shipped_at + (transit_days * DAY_MS).astype(np.int64)
    promised = w.leaf_promised_days[w.product_leaf[prod]]
    end = w.end_ms
    sent = ~cancelled & (shipped_at < end)
    delivered = sent & (delivered_at < end)
    late = delivered & ((delivered_at - ts) > promised * DAY_MS)
    shipments = {
        "order_id": orders["order_id"][sent],
        "store_id": orders["store_id"][sent],
        "shipped_at": shipped_at[sent],
        "delivered_at": np.where(delivered, delivered_at, -1)[sent],
        "promised_days": promised[sent].astype(np.int8),
    }

    # returns: one reason drawn in turn (quality first), delivered orders only
    p = np.stack(
        [
            0.01 + 0.30 * (1 - quality) ** 2,
            0.01 + 0.12 * (1 - info) ** 2 + 0.10 * misled ** 2,
            np.full(n, 0.03),
            np.full(n, 0.01),
        ],
        axis=1,
    )
    draw = rng.random((n, 4)) < p
    any_return = delivered & draw.any(axis=1)
    reason_idx = np.argmax(draw, axis=1)
    return_ts = delivered_at + rng.integers(HOUR_MS * 12, DAY_MS * 6, size=n)
    returned = any_return & (return_ts < end)
    quality_return = returned & (reason_idx == 0)
    returns = {
        "order_id": orders["order_id"][returned],
        "timestamp": return_ts[returned],
        "product_id": prod[returned],
        "store_id": orders["store_id"][returned],
        "reason": REASONS[reason_idx[returned]],
    }

    review_ts = delivered_at + rng.integers(HOUR_MS * 12, DAY_MS * 10, size=n)
    reviewed = delivered & (rng.random(n) < 0.4) & (review_ts < end)
    mean = 1 + 4 * sigmoid(
        4 * (quality - 0.45) - 1.2 * late + 1.0 * (service - 0.5) - 1.5 * quality_return + 0.6
    )
    rating = np.clip(np.round(mean + rng.normal(0, 0.6, size=n)), 1, 5).astype(np.int8)
    reviews = {
        "order_id": orders["order_id"][reviewed],
        "timestamp": review_ts[reviewed],
        "user_id": orders["user_id"][reviewed],
        "product_id": prod[reviewed],
        "store_id": orders["store_id"][reviewed],
        "rating": rating[reviewed],
    }

    opened_at = np.where(delivered, delivered_at, ts) + rng.integers(HOUR_MS, DAY_MS * 3, size=n)
    ticket = (
        (rng.random(n) < 0.04 + 0.30 * late + 0.60 * returned + 0.25 * misled) & (opened_at < end)
    )
    response = rng.lognormal(np.log(30 + 3600 * (1 - service) ** 2 + 1800 * misled), 0.8)
    resolved = rng.random(n) < 0.55 + 0.43 * service
    dispute = ~resolved & (rng.random(n) < 0.2 + 0.6 * (1 - service) + 0.3 * misled)
    m = int(ticket.sum())
    tickets = {
        "ticket_id": ticket_base + np.arange(m, dtype=np.int64),
        "order_id": orders["order_id"][ticket],
        "store_id": orders["store_id"][ticket],
        "opened_at": opened_at[ticket],
        "first_response_seconds": np.round(response[ticket], 1),
        "resolved": resolved[ticket],
        "escalated_to_dispute": dispute[ticket],
    }
    return {"shipments": shipments, "returns": returns, "reviews": reviews,
            "service_tickets": tickets}
