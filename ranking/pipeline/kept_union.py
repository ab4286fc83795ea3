"""The recall stage's union kept across requests, by the identity of the lists it joins.

A repeated query's search sources return the same kept (read-only) arrays (the lexical and
dense results kept per query, the pins' list kept per set of rules), so their union, about
0.1 ms of a repeated search's or shopper's recall stage (``python -m bench.recall_stage BUNDLE``),
is the same every repeat. :class:`KeptUnions` keeps it under the lists' names, in order, and each
list's arrays: by identity when an array is read-only and owns its data or views a read-only base
(what was joined cannot change while it is kept; the entry holds those arrays, so no other array
takes their ids while it lives), else by its dtype and bytes when it is short (a homepage source's
list made per call, and its scores). An entry holds no request's object.

The kept union's arrays (ids, each source's scores and ranks) are read-only and shared by every
request under those lists: each request gets its own :class:`CandidateSet` (and its own dicts of
columns) over them. Stages never write into a candidate set's recall columns (filters ``take``
new arrays; adjusters and the model write ``scores`` and ``adjustments``, made per set), and a
write would raise rather than change another page.
"""

from __future__ import annotations

import numpy as np

from ranking.bounded_memo import BoundedMemo
from ranking.pipeline.candidates import CandidateSet, Lists
from ranking.pipeline.kept_located import fixed as _fixed

# unions kept per pipeline: a search's ~850 candidates x (ids, two sources' and the pins' scores
# and ranks) is ~40 KB, a homepage's ~500 x eleven lists ~70 KB
KEPT_UNIONS = 128
# the longest list keyed by its bytes: a homepage source's per-call list (quotas up to 150, and its
# scores); a longer one not fixed (a caller's own list to rerank, 500 ids: a new list nearly every
# call, whose one-list union is cheap) makes the union not kept rather than hash it every call
CONTENT_KEY_MAX = 256


def union_key(parts: Lists, added: Lists | None) -> tuple[tuple, tuple] | None:
    """The key a union of these lists is kept under, and the arrays it names by identity; None
    when one is not kept (module docstring). Each list gives its name and, for each of its two
    arrays, its identity when :func:`_fixed` (the entry keeps those arrays alive, so no other array
    takes their ids), else its dtype, shape and bytes when it has at most :data:`CONTENT_KEY_MAX`
    values (a homepage source's per-call list, 30-150 ids, and its scores); a longer one that is
    not fixed, or what is not an ndarray, gives None."""
    key: list = [len(parts)]  # where the sources' lists end and the added ones begin
    held: list = []
    for lists in (parts, added) if added else (parts,):
        for name, pair in lists.items():
            key.append(name)
            for array in pair:
                if not isinstance(array, np.ndarray):
                    return None
                if _fixed(array):
                    held.append(array)
                    key.append(id(array))
                elif array.size <= CONTENT_KEY_MAX:
                    key.append((array.dtype, array.shape, array.tobytes()))
                else:
                    return None
    return tuple(key), tuple(held)


def _columns(union: CandidateSet) -> tuple:
    """The union's recall columns, made read-only, with their own dicts (the set's are its own)."""
    union.product_ids.setflags(write=False)
    for column in (*union.source_scores.values(), *union.source_ranks.values()):
        column.setflags(write=False)
    return union.product_ids, dict(union.source_scores), dict(union.source_ranks)


class KeptUnions:
    """:meth:`CandidateSet.union_counted`, kept for the last ``size`` sets of fixed input lists
    (module docstring); safe for concurrent request threads (:class:`BoundedMemo`)."""

    def __init__(self, size: int = KEPT_UNIONS) -> None:
        # key -> (the arrays the key names by identity, held so their ids stay theirs; the union's
        # columns; recalled)
        self._kept: BoundedMemo[tuple, tuple] = BoundedMemo(size)

    def union_counted(self, parts: Lists, added: Lists | None = None) -> tuple[CandidateSet, int]:
        """The union of ``parts`` and then ``added`` and how many distinct ids ``parts`` listed,
        as :meth:`CandidateSet.union_counted` gives them; the union's arrays are read-only when
        kept (a new set over them each call)."""
        keyed = union_key(parts, added)
        if keyed is None:
            return CandidateSet.union_counted(parts, added)
        key, held = keyed
        got = self._kept.get(key)
        if got is None:  # this call's set is the union made; the kept columns are the same arrays
            union, recalled = CandidateSet.union_counted(parts, added)
            self._kept.put(key, (held, _columns(union), recalled))
            return union, recalled
        _, (ids, scores, ranks), recalled = got
        return CandidateSet(ids, dict(scores), dict(ranks)), recalled

    def __len__(self) -> int:
        return len(self._kept)
