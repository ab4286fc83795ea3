"""A bounded memo shared by request threads: values kept per key, the oldest out past a size.

Recall keeps results that never change for a bundle (a seed's neighbours, a query text's
vector) across requests. Several request threads read and fill one memo at once, so eviction
must not iterate a dict another thread is growing (``next(iter(d))`` then raises
``RuntimeError: dictionary changed size during iteration``): puts take a lock, gets do not
(one dict lookup is atomic under the interpreter lock).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

import numpy as np

K = TypeVar("K")
V = TypeVar("V")


class BoundedMemo(Generic[K, V]):
    """At most ``size`` values; the first kept goes first (no reordering on a hit: a hit stays
    lock-free)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._values: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        return self._values.get(key)

    def put(self, key: K, value: V) -> V:
        """Keep ``value`` for ``key``; the oldest go past ``size`` (a memo of size 0 keeps
        nothing). Returns ``value``."""
        if self.size <= 0:
            return value
        with self._lock:
            self._values[key] = value
            while len(self._values) > self.size:
                self._values.popitem(last=False)
        return value

    def kept(self, key: K, make: Callable[[], V]) -> V:
        """The value kept for ``key``, else ``make()``'s, kept. Two threads missing the same key
        at once both make it (the values are equal; the later put stays)."""
        value = self._values.get(key)
        return self.put(key, make()) if value is None else value

    def __getstate__(self) -> dict:
        """Pickled (training ships recall to its workers) as an empty memo of the same size:
        the kept values are a cache, and a lock cannot be pickled."""
        return {"size": self.size}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["size"])

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, key: object) -> bool:
        return key in self._values


def read_only(value: V) -> V:
    """``value`` with its arrays made read-only (an array, or the arrays of a tuple): a kept
    value is shared by every request thread, so none may write into it."""
    for a in value if isinstance(value, tuple) else (value,):
        if isinstance(a, np.ndarray):
            a.flags.writeable = False
    return value
