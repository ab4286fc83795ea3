"""The live state: what shoppers and products did seconds ago, as a bounded view of the event log.

One component per file: :mod:`.batch` (logged rows as columns, checked), :mod:`.catalog`
(product and store rows, leaf, brand, consumable leaves), :mod:`.shoppers` (who a row is:
user or anonymous session, and the session folding into the user), :mod:`.history` (per
shopper: recent interactions, queries, bought items, cards ignored), :mod:`.counters`
(windowed counters per product and per store), :mod:`.covisitation` (item-to-item, learnt
from sessions), :mod:`.state` (the :class:`LiveState` facade) and :mod:`.recall` (live
candidates). Pure numpy; nothing here imports the web or training code. The same state in
Redis for several hosts: :mod:`.redis_state` (``RedisLiveState``), :mod:`.redis_client` (the
connection and ``LiveBackendError``), :mod:`.redis_scripts` (its atomic Lua steps); redis-py is
imported only by them, when that backend is chosen. What the service opens (:mod:`.backend`):
:mod:`.embedded` (each worker tails the log) or :mod:`.redis_backend` (one applier per host log
feeds Redis), both following the log with :mod:`.log_tail` and :mod:`.log_rows`.
"""

from ranking.live.state import LiveState, ShopperView

__all__ = ["LiveState", "ShopperView"]
