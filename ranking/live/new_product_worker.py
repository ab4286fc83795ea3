"""The new products' worker: a process of its own that builds a batch's words and vectors.

An add's pure part (:func:`ranking.live.new_product_words.batch_words`: tokenising and the
dense encoder's n-gram hashing) is Python work that, in the engine's process, holds the
interpreter lock the request threads wait for. :class:`NewProductWorker` runs it in one
worker process instead; the engine's process keeps only the look-ups of the batch's distinct
words in its vocabularies, the appends and the swaps (:mod:`ranking.live.new_products`).

Batches of fewer than ``live.new_products_worker_min_batch`` products (100) are built in process
and start no worker (a few products cost milliseconds there). The process is started at the
first batch that needs it, with a ``spawn`` context (never
``fork``: the service forks from several threads), at the niceness ``live.new_products_worker_nice``
(0 by default; ``spawn`` imports the parent's main script in the child, as it does for every
spawned process: a script must keep its work under ``if __name__ == "__main__"``, which
``python -m shelfrank``'s package ``__main__`` needs not, multiprocessing skips those). Its
initializer loads the bundle's dense
encoder from the bundle folder once and checks it against the engine's (a CRC of its
arrays), and keeps the leaf words the engine read at its first add (sent once, a few KB). It
holds nothing else of the engine: the encoder (IDF and components: its arrays' bytes, ~17 MB at
64 dimensions), the leaf words and the libraries it imports. Each batch sends the products' own texts and
leaves (:meth:`NewProductWorker.submit`: the engine's process builds the batch's product rows and
homepage rows meanwhile) and gets back their tokens as :class:`~ranking.live.new_product_text.BatchTokens` and
their vectors: what an in-process build makes, bit for bit (``tests/test_new_product_worker.py``).

When the process cannot start, dies, or has not answered within
``live.new_products_worker_timeout_seconds``, :meth:`NewProductWorker.result` says so in
a log line and returns None, and the caller builds that batch in process: no batch is lost.
The broken process is stopped; the next batch starts a new one, up to ``MAX_STARTS`` per
engine, then every batch is built in process (logged once). :meth:`NewProductWorker.close`
(from ``Engine.close``, or when the engine is collected) stops it.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import zlib
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ranking.live.new_product_text import CategoryWords
from ranking.live.new_product_words import BatchWords, batch_words
from ranking.recall.dense import TextEncoder

log = logging.getLogger("shelfrank.catalog")
MAX_STARTS = 3  # worker processes started per engine before every batch is built in process

_LOADED: dict[str, Any] = {}  # in the worker process: what its initializer loaded


def encoder_checksum(encoder: TextEncoder | None) -> int:
    """A CRC-32 of the encoder's arrays (0 without one): the worker's must be the engine's."""
    if encoder is None:
        return 0
    crc = zlib.crc32(np.ascontiguousarray(encoder.idf).data)
    return zlib.crc32(np.ascontiguousarray(encoder.components).data, crc)


def _load(encoder_folder: str | None, checksum: int, words: CategoryWords, nice: int) -> None:
    """The worker's initializer: its niceness, the encoder from the bundle folder (checked) and the
    leaf words."""
    if nice and hasattr(os, "nice"):
        os.nice(nice)
    encoder = TextEncoder.load(Path(encoder_folder)) if encoder_folder is not None else None
    if encoder_checksum(encoder) != checksum:
        raise RuntimeError(f"the encoder in {encoder_folder} is not the engine's (checksums differ)")
    _LOADED.update(encoder=encoder, words=words)


def _batch_words(own: list[str], categories: np.ndarray) -> BatchWords:
    """In the worker process: :func:`batch_words` with what the initializer loaded."""
    return batch_words(own, categories, _LOADED["words"], _LOADED["encoder"])


@dataclass
class Pending:
    """A batch handed to the worker (:meth:`NewProductWorker.submit`): no pool when there is none."""

    pool: ProcessPoolExecutor | None
    future: Future | None
    size: int
    error: Exception | None


class NewProductWorker:
    """One engine's worker process (see the module docstring); thread-safe."""

    def __init__(self, encoder_folder: Path | None, encoder: TextEncoder | None, words: CategoryWords,
                 timeout_seconds: float, nice: int = 0) -> None:
        if (encoder_folder is None) != (encoder is None):
            raise ValueError("the encoder's folder and the encoder go together")
        self._args = (str(encoder_folder) if encoder_folder is not None else None, encoder_checksum(encoder),
                      words, nice)
        self.timeout_seconds = timeout_seconds
        self.starts = 0  # processes started
        self.batches = 0  # batches it built
        self.fallbacks = 0  # batches it could not build (built in process by the caller)
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False

    def _running(self) -> ProcessPoolExecutor | None:
        with self._lock:
            if self._closed:
                return None
            if self._pool is None:
                if self.starts >= MAX_STARTS:
                    return None
                self.starts += 1
                self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_load, initargs=self._args)
            return self._pool

    def submit(self, own: list[str], categories: np.ndarray) -> Pending:
        """Start building the batch's words and vectors in the worker (the caller does its other
        work meanwhile, then asks :meth:`result`)."""
        pool = self._running()
        if pool is None:  # closed, or MAX_STARTS processes failed (said when the last one did)
            return Pending(None, None, len(own), None)
        try:
            return Pending(pool, pool.submit(_batch_words, list(own), np.asarray(categories, np.int64)),
                           len(own), None)
        except Exception as exc:  # a pool already broken or shut down: said by :meth:`result`
            return Pending(pool, None, len(own), exc)

    def result(self, pending: Pending) -> BatchWords | None:
        """What :meth:`submit` started; None (logged) when the worker could not build it."""
        if pending.pool is None:
            self.fallbacks += 1
            return None
        try:
            if pending.future is None:
                raise pending.error or RuntimeError("not submitted")
            made = pending.future.result(timeout=self.timeout_seconds)
        except Exception as exc:  # cannot start, died, timed out, closed meanwhile: in process instead
            self.fallbacks += 1
            log.warning("new products: the worker process could not build a batch of %d (%s: %s); "
                        "building it in process%s", pending.size, type(exc).__name__, exc,
                        "" if self.starts < MAX_STARTS else f" (and every batch after it: {MAX_STARTS} "
                        "worker processes failed)")
            self._stop(pending.pool, kill=True)
            return None
        self.batches += 1
        return made

    def _stop(self, pool: ProcessPoolExecutor, kill: bool) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        if kill:  # a process that does not answer would not see shutdown's request either
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                process.kill()
        pool.shutdown(wait=True, cancel_futures=True)  # an idle or killed process ends at once

    def close(self) -> None:
        """Stop the worker process, waiting for a batch in flight (it gets its answer); no new one
        starts: later batches are built in process."""
        with self._lock:
            self._closed = True
            pool = self._pool
        if pool is not None:
            self._stop(pool, kill=False)
