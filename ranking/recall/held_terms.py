"""A synonym book's terms over one search index, computed once per book change, off the pages.

A first-time query's rewrite brings synonym terms the index has mostly never scored (on
``bench.merch_synonyms``' mix 95% of a first-time query's terms were new to it): each costs its
rows and scores (:meth:`~ranking.recall.query_words.QueryWordMatcher._term`, ~0.2 ms of a firing
page). :class:`HeldTerms` holds every term a book's sets can add, computed by the merchandising
follower's thread (:mod:`ranking.live.merch_follower`) when a book or an index is new, so a page
reads them with one dict lookup.

* **Of one index, for one book.** A table lives in one index's matcher (a new index makes a new
  matcher, which holds nothing until the follower builds its table) and names the book's
  :class:`~ranking.merchandising.synonym_index.SynonymIndex` it was built for (so the follower
  builds it once per book). A term's entry depends on the term and the index only, so any
  rewrite (the book in force, a console preview's draft) reads it; a term it lacks is computed per
  query as before, to the same bits, so a page's results never depend on whether a table was
  ready.
* **Bounded.** At most ``merchandising.synonym_terms_held_mb`` MB (each entry counting
  :data:`~ranking.bounded_memo.ENTRY_BYTES` beside its arrays). A book whose terms need more
  (a huge book at 1M products) is held up to the bound, the rest computed per query as before;
  0 holds none.
* **Paced.** :func:`build_held_terms` works ``merchandising.synonym_terms_slice_ms`` at a time and
  then sleeps as long (a sleep releases the interpreter lock), so pages running meanwhile wait
  for it at most about a slice; it stops, publishing nothing, once its book is no longer the one
  in force.

The table is built whole and published by one attribute assignment; it is never changed after.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ranking.bounded_memo import ENTRY_BYTES


@dataclass(frozen=True)
class HeldTerms:
    """One book's terms over one index: term -> (rows, scores) read-only, or () when no product
    holds it (module docstring)."""

    index: Any  # the book's SynonymIndex it was built for (the follower's "built already?")
    table: Mapping[str, tuple]
    complete: bool  # every term the book can add is held (False: the bound stopped it)
    nbytes: int


def entry_bytes(entry: tuple) -> int:
    """What an entry counts against the bound: its arrays and :data:`ENTRY_BYTES`."""
    return ENTRY_BYTES + sum(a.nbytes for a in entry)


def build_held_terms(index: Any, terms: Iterable[str], compute: Callable[[str], tuple], max_bytes: int,
                     slice_s: float, current: Callable[[], bool] = lambda: True) -> HeldTerms | None:
    """Every one of ``terms`` (the book's: ``index.added_terms()``) by ``compute`` (a term's
    read-only entry) up to ``max_bytes``, working ``slice_s`` at a time then sleeping as long;
    None when ``current()`` turns false before the end (the book was replaced) or nothing may be
    held (``max_bytes`` <= 0)."""
    if max_bytes <= 0:
        return None
    table: dict[str, tuple] = {}
    total, complete = 0, True
    started = time.perf_counter()
    for term in terms:  # distinct (``SynonymIndex.added_terms``)
        if time.perf_counter() - started >= slice_s:
            if not current():
                return None
            time.sleep(slice_s)  # the interpreter lock to the pages
            started = time.perf_counter()
        entry = compute(term)
        size = entry_bytes(entry)
        if total + size > max_bytes:
            complete = False
            break
        table[term] = entry
        total += size
    if not current():
        return None
    return HeldTerms(index, table, complete, total)
