"""A bounded memo shared by request threads: values kept per key, the oldest out past a size.

Recall keeps results that never change for a bundle (a seed's neighbours, a query text's
vector) across requests. Several request threads read and fill one memo at once, so eviction
must not iterate a dict another thread is growing (``next(iter(d))`` then raises
``RuntimeError: dictionary changed size during iteration``): puts take a lock, gets do not
(one dict lookup is atomic under the interpreter lock). :class:`BytesMemo` bounds the same
by the bytes of the arrays kept, for values whose size varies by orders (a synonym term held by
ten products or by 10^5 at 1M products).
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


ENTRY_BYTES = 256  # a kept value's own cost beside its arrays' (its key, tuple and array objects)


def _nbytes(value: tuple[np.ndarray, ...]) -> int:
    return ENTRY_BYTES + sum(a.nbytes for a in value)


class BytesMemo(BoundedMemo[K, tuple]):
    """Tuples of arrays, at most ``limit`` bytes of them in all (each counting
    :data:`ENTRY_BYTES` more); the first kept goes first, and a value over ``limit`` alone is
    not kept. Pickled empty, like :class:`BoundedMemo`."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.nbytes = 0

    @property
    def limit(self) -> int:
        return self.size

    def put(self, key: K, value: tuple) -> tuple:
        size = _nbytes(value)
        if size > self.size:
            return value
        with self._lock:
            old = self._values.pop(key, None)
            self.nbytes += size - (_nbytes(old) if old is not None else 0)
            self._values[key] = value
            while self.nbytes > self.size:
                self.nbytes -= _nbytes(self._values.popitem(last=False)[1])
        return value


def read_only(value: V) -> V:
    """``value`` with its arrays made read-only (an array, or the arrays of a tuple): a kept
    value is shared by every request thread, so none may write into it."""
    for a in value if isinstance(value, tuple) else (value,):
        if isinstance(a, np.ndarray):
            a.flags.writeable = False
    return value
