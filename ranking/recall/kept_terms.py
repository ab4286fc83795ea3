"""Large synonym terms' rows and scores kept per index, bounded by their bytes.

:class:`~ranking.recall.query_words.QueryWordMatcher` keeps a synonym term's rows and scores (what
the term adds to any query whose rewrite brings it: they depend on the term and the index only).
Small terms go in a memo bounded by count; a term held by many products (at 1M products a
frequent word's term holds 10^4-10^5 of them, and summing its columns over the catalog was a
quarter of a first-time query's lexical recall) goes here, in a memo bounded by the bytes of its
arrays, oldest out, so a catalog of any size keeps at most ``limit`` bytes of them. Reads take no
lock (one dict lookup), puts do; pickled (training ships recall to its workers) empty. The matcher
keeps each synonym match's rows and what it adds there in another one (a match is a word with the
same terms in every query's rewrite).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

import numpy as np

ENTRY_BYTES = 256  # a kept value's own cost beside its arrays' (its key, tuple and array objects)


def _size(value: tuple[np.ndarray, ...]) -> int:
    return ENTRY_BYTES + sum(a.nbytes for a in value)


class BytesMemo:
    """Tuples of arrays per key, at most ``limit`` bytes of arrays in all; the first kept goes first."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.nbytes = 0
        self._values: OrderedDict[Hashable, tuple[np.ndarray, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> tuple[np.ndarray, ...] | None:
        return self._values.get(key)

    def put(self, key: Hashable, value: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        """Keep ``value`` (unless it alone is over ``limit``), the oldest out past ``limit``."""
        size = _size(value)
        if size > self.limit:
            return value
        with self._lock:
            old = self._values.pop(key, None)
            self.nbytes += size - (_size(old) if old is not None else 0)
            self._values[key] = value
            while self.nbytes > self.limit:
                self.nbytes -= _size(self._values.popitem(last=False)[1])
        return value

    def __getstate__(self) -> dict:
        return {"limit": self.limit}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["limit"])

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, key: object) -> bool:
        return key in self._values
