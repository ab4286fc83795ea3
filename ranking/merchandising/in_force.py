"""Whether a rule's schedule holds at a moment: what ``GET /v1/rules?active=true`` lists.

A schedule holds at ``now_ms`` when ``start <= now < end`` (either open) and, when given, the
mall's local ``hour`` is inside ``hours`` ``[from, to)`` (wrapping midnight when from > to) or in
one of the ``slots`` (:func:`ranking.mall_clock.time_slot`). The RULES part's ``RuleIndex`` decides
which rules a request sees; this is the same reading of a schedule for one moment, and at the
merge it points at theirs if they keep one of their own.
"""

from __future__ import annotations

from ranking.mall_clock import time_slot
from ranking.merchandising.rule import RuleSchedule


def schedule_holds(schedule: RuleSchedule, now_ms: int, hour: int) -> bool:
    """Whether ``schedule`` is in force at ``now_ms`` (UTC epoch ms), the mall's local ``hour``."""
    if schedule.start is not None and now_ms < schedule.start.timestamp() * 1000:
        return False
    if schedule.end is not None and now_ms >= schedule.end.timestamp() * 1000:
        return False
    if schedule.hours is not None:
        lo, hi = schedule.hours
        return lo <= hour < hi if lo < hi else (hour >= lo or hour < hi)
    if schedule.slots is not None:
        return str(time_slot(hour)) in schedule.slots
    return True
