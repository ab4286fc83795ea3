"""Logged events that look fabricated: what ``merge-events`` warns of before training reads them.

Every row of a poisoning attempt can be valid and consistent (issue 24: one POST of 1,000
impression -> click -> cart -> order funnels of one product by 1,000 real user ids passed
every check), so these are warnings for an operator, judged on the logged rows only:

* :func:`client_bursts`: a client that sent more than ``consistency.burst_events_per_second``
  events within one second of the service's receipt time (the ``_client`` and
  ``_received_ms`` of each line; until the service authenticates its callers every line's
  client is null, and the unidentified clients count as one).
* :func:`implausible_funnels`: a product for which at least ``consistency.funnel_min_users``
  distinct shoppers went from its card's impression through a click and an add-to-cart to a
  paid order within ``consistency.funnel_seconds``: shoppers do not buy that fast in
  crowds, and such rows would push the product's click and order labels and scores up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ranking.settings import ConsistencySettings

UNIDENTIFIED = "(unidentified clients)"
_KEY = ["request_id", "product_id", "user_id"]


@dataclass(frozen=True)
class Suspicion:
    """One warning: its kind (``burst``, ``funnel``), whom it is about and what was seen."""

    kind: str
    subject: str
    message: str


def suspicious_traffic(tables: dict[str, pa.Table], origins: dict[str, pa.Table],
                       limits: ConsistencySettings) -> list[Suspicion]:
    """Both checks over the logged tables and the origins of their rows."""
    return [*client_bursts(origins, limits.burst_events_per_second),
            *implausible_funnels(tables, limits.funnel_seconds, limits.funnel_min_users)]


def client_bursts(origins: dict[str, pa.Table], per_second: int) -> list[Suspicion]:
    """Clients with more than ``per_second`` events received within one second."""
    parts = [t for t in origins.values() if t.num_rows]
    if not parts:
        return []
    frame = pa.concat_tables(parts).to_pandas()
    frame = frame[frame.received_ms.notna()]
    frame["client"] = frame.client.fillna(UNIDENTIFIED)
    frame["second"] = frame.received_ms.astype(np.int64) // 1000
    counts = frame.groupby(["client", "second"]).size()
    out = []
    for client, seconds in counts[counts > per_second].groupby(level="client"):
        worst = seconds.droplevel("client")
        at = datetime.fromtimestamp(int(worst.idxmax()), UTC).strftime("%Y-%m-%d %H:%M:%S")
        out.append(Suspicion("burst", str(client), (
            f"client {client} sent {int(worst.max()):,} events within one second at {at} UTC "
            f"(consistency.burst_events_per_second is {per_second:,}; {len(worst):,} such second(s)): "
            "a bulk injection, or a frontend that should spread its batches")))
    return out


def implausible_funnels(tables: dict[str, pa.Table], within_seconds: float,
                        min_users: int) -> list[Suspicion]:
    """Products with at least ``min_users`` shoppers each completing the whole funnel of one
    card (impression, click, cart, order of its request) within ``within_seconds``."""
    if any(tables.get(t) is None or tables[t].num_rows == 0
           for t in ("impressions", "clicks", "carts", "orders")):
        return []
    shown = _frame(tables["impressions"], "shown_at").groupby(_KEY, as_index=False).shown_at.min()
    clicked = _frame(tables["clicks"], "clicked_at").drop_duplicates(_KEY)
    carted = _frame(tables["carts"], "carted_at").drop_duplicates(_KEY)
    paid = _frame(tables["orders"].filter(pc.is_valid(tables["orders"].column("request_id"))),
                  "paid_at")
    funnel = shown.merge(clicked, on=_KEY).merge(carted, on=_KEY).merge(paid, on=_KEY)
    first = funnel[["shown_at", "clicked_at", "carted_at", "paid_at"]].min(axis=1)
    last = funnel[["shown_at", "clicked_at", "carted_at", "paid_at"]].max(axis=1)
    fast = funnel[(last - first) <= within_seconds * 1000]
    users = fast.groupby("product_id").user_id.nunique()
    out = []
    for product, n in users[users >= min_users].sort_values(ascending=False).items():
        out.append(Suspicion("funnel", f"product {product}", (
            f"product {product}: {n:,} distinct shoppers each went impression -> click -> cart -> order "
            f"within {within_seconds:g} s (consistency.funnel_min_users is {min_users:,}): shoppers do "
            "not buy that fast in crowds; a fabricated funnel would inflate its labels and scores")))
    return out


def _frame(table: pa.Table, time_name: str) -> pd.DataFrame:
    """The funnel key and the time (epoch ms) of a logged table."""
    times = table.column("timestamp").cast(pa.int64())
    return pd.DataFrame({**{k: table.column(k).to_numpy(zero_copy_only=False) for k in _KEY},
                         time_name: times.to_numpy(zero_copy_only=False)})
