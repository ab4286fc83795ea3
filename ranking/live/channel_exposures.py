"""The subsidy channel's served impressions per product, per hour, for pacing its brands' promises.

Fed from the service's exposure lines of the event log (rows with ``surface == "channel"`` and
``channel == "subsidy"``, one per card), by whichever backend tails the log: the embedded state
counts them in memory (:class:`ChannelExposures`, every worker tails every worker's log), the
Redis backend's applier into one hash per UTC hour (``chexp:<hour>``, kept two days) that every
host reads. :meth:`ChannelExposures.since` sums the hours from a moment on (the mall-local
midnight, :func:`ranking.channel_pacing.day_start_ms`; a zone whose midnight is not on a UTC hour
counts from the hour before). Bounded: at most :data:`KEEP_HOURS` hours x the channel's products.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from ranking.live.row_columns import RowColumns
from ranking.surfaces import CHANNEL, SUBSIDY_CHANNEL

HOUR_MS = 3_600_000
KEEP_HOURS = 48


def channel_counts(rows: RowColumns) -> Counter:
    """(UTC hour, product id) -> impressions of the subsidy channel's rows among a poll's logged
    impressions (held as columns, :mod:`ranking.live.row_columns`); a row without a usable
    timestamp or product id is skipped (the live state refuses it with its reason)."""
    surfaces, channels = rows.column("surface"), rows.column("channel")
    at = [i for i, (surface, channel) in enumerate(zip(surfaces, channels, strict=True))
          if surface == CHANNEL and channel == SUBSIDY_CHANNEL]
    if not at:
        return Counter()
    times, products = rows.column("timestamp"), rows.column("product_id")
    counts: Counter = Counter()
    for i in at:
        try:
            counts[(int(times[i]) // HOUR_MS, int(products[i]))] += 1
        except (TypeError, ValueError):  # (a row without the field reads None) refused by the state
            continue
    return counts


class ChannelExposures:
    """In memory: impressions per product per UTC hour, the last :data:`KEEP_HOURS` hours."""

    def __init__(self) -> None:
        self.hours: dict[int, Counter] = {}

    def add_counts(self, counts: Mapping[tuple[int, int], int]) -> int:
        """Add :func:`channel_counts`' counts (made before a reader's lock is taken); return how many."""
        for (hour, product), n in counts.items():
            self.hours.setdefault(hour, Counter())[product] += n
        if self.hours:
            latest = max(self.hours)
            for hour in [h for h in self.hours if h <= latest - KEEP_HOURS]:
                del self.hours[hour]
        return sum(counts.values())

    def since(self, since_ms: int) -> dict[int, int]:
        """Impressions per product id in the hours from ``since_ms``'s hour on."""
        first = since_ms // HOUR_MS
        total: Counter = Counter()
        for hour, counts in self.hours.items():
            if hour >= first:
                total.update(counts)
        return dict(total)
