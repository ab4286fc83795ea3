"""The operator's synonym sets compiled once per book: which terms a query also searches.

:class:`SynonymIndex` reads every term the way search reads a query's words
(:func:`ranking.recall.tokenize.pieces`: the search form, so width, case, accents, traditional
Chinese and hiragana fold alike; Latin words lightly stemmed, so "phones" is "phone"), as a
sequence of *units*: a word of a spaced script or a number is one unit, a character of an
unspaced script (Chinese, Japanese, Thai...) is one unit. A term matches a query where its
units stand consecutively in the query's units: "cordless drill" only as that phrase, "phone"
never inside "smartphone" (sub-word matching is the recall's own, ``recall.subword_*``), and
"手机" anywhere in an unspaced run ("华为手机壳"), since Chinese has no spaces to cut at.

A two-way set maps every term to all the others; a one-way set its first term to the rest
("phone" -> 手机, smartphone; "手机" is left alone). :meth:`SynonymIndex.rewrite` walks the
query's units once, left to right, taking at each position the longest term any set holds
(as Lucene's synonym filter does: "cordless drill" wins over "drill" inside it) and firing
every set that holds it; a term already in the query is not added again. The cost is a few
dict lookups per query unit whatever the number of sets (a set of every term's proper
prefixes stops the longest-match scan early).

The result, :class:`QueryRewrite`, keeps each match as an :class:`Alternative` (the query's
units it matched and the terms that may stand for them): the lexical recall searches the
terms as alternatives of those words, not as extra words (:mod:`ranking.recall.query_words`),
and the page reports ``synonyms: [{"id", "terms_added"}]`` like a spelling correction.
Spelling correction runs first (the service corrects before it builds the request), so sets
match the corrected query. :func:`rewrite_of` gives a search request's rewrite, once per
request, from the book it carries (``RankRequest.merchandising``; None or empty: no rewrite).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ranking.bounded_memo import BoundedMemo
from ranking.merchandising.synonym import Synonym
from ranking.recall.tokenize import pieces

Units = tuple[str, ...]
HYDRATED_KEY = "synonym_rewrite"  # RankRequest.hydrated key of the request's rewrite
REWRITES_KEPT = 4_096  # query texts whose rewrite an index keeps (a few hundred bytes each)


def units(text: str) -> Units:
    """The matching units of ``text``: spaced-script words (Latin ones stemmed) and numbers
    whole, each character of an unspaced run on its own (module docstring)."""
    out: list[str] = []
    for unspaced, run in pieces(text):
        if unspaced:
            out.extend(run)
        else:
            out.append(run[0])
    return tuple(out)


@dataclass(frozen=True)
class Alternative:
    """One match: the query's ``matched`` units and the ``terms`` (as the operator wrote them)
    that may stand for them, from the sets ``set_ids``."""

    matched: Units
    terms: tuple[str, ...]
    set_ids: tuple[str | None, ...]

    @property
    def text(self) -> str:
        """The matched units as text: unspaced characters joined, words spaced ("手机", "cordless drill")."""
        out = ""
        for unit in self.matched:
            glued = out and _unspaced(unit) and _unspaced(out[-1])
            out += unit if glued or not out else " " + unit
        return out

    def covers(self, word: str) -> bool:
        """Whether a query word (a spaced word, or a run of unspaced characters) lies inside
        this match: a spaced word as one of its units, unspaced characters as a stretch."""
        if word in self.matched:
            return True
        return len(word) > 1 and all(map(_unspaced, word)) and word in "".join(
            u for u in self.matched if _unspaced(u))


@dataclass(frozen=True)
class QueryRewrite:
    """What the synonym sets add to one query: the terms, the sets that fired and, per match,
    which query words the terms stand for."""

    alternatives: tuple[Alternative, ...] = ()
    terms_added: tuple[str, ...] = ()  # distinct, in the order the matches and sets gave them
    fired: tuple[str | None, ...] = ()  # ids of the sets that added a term (None: a draft's)
    added_by: tuple[tuple[str, ...], ...] = ()  # per fired set, the terms it added

    def __bool__(self) -> bool:
        return bool(self.terms_added)

    def expanded(self, query: str) -> str:
        """The query with its added terms after it (for a text embedding of the whole intent)."""
        return " ".join((query, *self.terms_added))

    def record(self) -> list[dict]:
        """The response's ``synonyms``: one ``{"id", "terms_added"}`` per set that fired."""
        return [{"id": sid, "terms_added": list(terms)}
                for sid, terms in zip(self.fired, self.added_by, strict=True)]


NO_REWRITE = QueryRewrite()


class SynonymIndex:
    """Synonym sets by the units of each term (module docstring); immutable once built."""

    def __init__(self, synonyms: Sequence[Synonym]) -> None:
        self._targets: dict[Units, list[tuple[int, tuple[str, ...]]]] = {}
        self._prefixes: set[Units] = set()
        self._ids: list[str | None] = []
        self._units: dict[str, Units] = {}  # each term as written -> its units
        for position, synonym in enumerate(synonyms):
            self._ids.append(synonym.id)
            terms = [t.strip() for t in synonym.terms]
            keys = [self._units.setdefault(t, units(t)) for t in terms]
            sources = range(1) if synonym.one_way else range(len(terms))
            for i in sources:
                if not keys[i]:
                    continue  # only punctuation: no query holds it
                others = tuple(t for j, t in enumerate(terms) if j != i and keys[j] and keys[j] != keys[i])
                if others:
                    self._targets.setdefault(keys[i], []).append((position, others))
                    self._prefixes.update(keys[i][:n] for n in range(1, len(keys[i])))
        self.sets = len(self._ids)
        self.terms = len(self._targets)
        self._rewrites: BoundedMemo[str, QueryRewrite] = BoundedMemo(REWRITES_KEPT)

    def added_terms(self) -> tuple[str, ...]:
        """Every term a query's rewrite can add (each once, in the sets' order): the terms
        :mod:`ranking.recall.held_terms` computes once per book."""
        return tuple(dict.fromkeys(t for targets in self._targets.values() for _, others in targets
                                   for t in others))

    def __len__(self) -> int:
        return self.sets

    def _longest(self, query: Units, start: int) -> int:
        """Units of the longest term starting at ``start`` (0: none)."""
        best = 0
        for end in range(start + 1, len(query) + 1):
            key = query[start:end]
            if key in self._targets:
                best = end - start
            if key not in self._prefixes:
                break
        return best

    def rewrite(self, query: str) -> QueryRewrite:
        """The terms ``query`` also searches and the sets that said so (empty: none fired), kept
        per query text for the index's life (it never changes; up to :data:`REWRITES_KEPT`,
        oldest out): a repeated query's page reads it instead of matching again."""
        if not self._targets:
            return NO_REWRITE
        return self._rewrites.kept(query, lambda: self._rewrite(query))

    def _rewrite(self, query: str) -> QueryRewrite:
        q = units(query)
        matches: list[tuple[Units, list[tuple[int, tuple[str, ...]]]]] = []
        i = 0
        while i < len(q):
            n = self._longest(q, i)
            if n:
                matches.append((q[i:i + n], self._targets[q[i:i + n]]))
            i += n or 1
        if not matches:
            return NO_REWRITE
        return self._record(q, matches)

    def _record(self, q: Units, matches: list) -> QueryRewrite:
        alternatives, added, per_set = [], {}, {}
        for matched, targets in matches:
            terms: dict[str, None] = {}
            sets: dict[int, None] = {}
            for position, others in targets:
                for term in others:
                    if _inside(self._units[term], q):
                        continue  # the query holds it already
                    terms[term] = None
                    sets[position] = None
                    per_set.setdefault(position, {})[term] = None
            if terms:
                alternatives.append(Alternative(matched, tuple(terms), tuple(self._ids[p] for p in sets)))
                added.update(terms)
        if not added:
            return NO_REWRITE
        return QueryRewrite(tuple(alternatives), tuple(added), tuple(self._ids[p] for p in per_set),
                            tuple(tuple(t) for t in per_set.values()))


def _unspaced(unit: str) -> bool:
    """A unit that is one character of an unspaced script (not an ASCII letter or digit)."""
    return len(unit) == 1 and not unit.isascii()


def _inside(key: Units, q: Units) -> bool:
    """Whether the units ``key`` stand consecutively in ``q``."""
    n = len(key)
    return any(q[i:i + n] == key for i in range(len(q) - n + 1))


def rewrite_of(request: Any) -> QueryRewrite | None:
    """A search request's rewrite by the book it carries, computed once per request (kept in
    ``request.hydrated``); None off search, without a query, or with no book or an empty one."""
    book = request.merchandising
    if not book or not book.synonyms or request.surface != "search" or not request.query:
        return None
    if HYDRATED_KEY not in request.hydrated:
        rewrite = book.synonym_index.rewrite(request.query)
        request.hydrated[HYDRATED_KEY] = rewrite if rewrite else None
    return request.hydrated[HYDRATED_KEY]
