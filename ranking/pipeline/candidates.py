"""What flows through the pipeline: the request and the candidate set."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ranking.features.snapshot import EntityTable, Located
from ranking.pipeline.kept_located import kept_located
from ranking.pipeline.rule_notes import RuleNotes
from ranking.surfaces import SURFACE_CODES

Lists = dict[str, tuple[np.ndarray, np.ndarray]]  # each source's (product ids, scores), by name


@dataclass
class RankRequest:
    """One ranking call, already validated by the caller (the service or a script)."""

    surface: str
    page_size: int
    now_ms: int
    hour: int
    user_id: int | None = None
    query: str | None = None
    candidates: np.ndarray | None = None  # the caller's own recall (rerank)
    subsidy_slots: tuple[int, ...] = ()
    price_min: float | None = None
    price_max: float | None = None
    category_id: int | None = None
    store_id: int | None = None
    # badges every card must carry (ranking.badges codes; the request's ``free_shipping=true``)
    badges: tuple[str, ...] = ()
    # a channel page (ranking.surfaces.CHANNEL_PAGES) on the channel surface: "subsidy" (the
    # big-brand subsidy channel) or "category" (browsing ``category_id`` with no query); None off
    # a channel
    channel: str | None = None
    # the subsidy channel's pacing: impressions served on it today (since mall-local midnight) per
    # product id, from the live state; None: no live state, pacing off (ranking/channel_pacing.py)
    channel_exposures: Any = field(default=None, repr=False, compare=False)
    explain: bool = False
    seed: int = 0  # drives exploration draws; the service derives it from the request id
    session_id: str | None = None  # an anonymous shopper's session (or a signed-in user's)
    # the shopper's live view (ranking.live.ShopperView), read by the homepage context and the
    # live_history filter; None: the bundle's frozen state only (live off or degraded)
    shopper: Any = field(default=None, repr=False, compare=False)
    # the live state's counters of products: ``live_signals(product_ids, now_ms)`` ->
    # ``LiveState.product_signals``; None: no live state (the live features stay missing)
    live_signals: Any = field(default=None, repr=False, compare=False)
    log_features: bool = False  # return the placed cards' live feature values (live.log_feature_share)
    # what stages hydrate once per request and share (the homepage's shopper context), by key
    hydrated: dict = field(default_factory=dict, repr=False, compare=False)
    # the operator's rules and synonyms in force (ranking.merchandising.MerchandisingBook); None:
    # none (offline callers, or the service before its first book)
    merchandising: Any = field(default=None, repr=False, compare=False)

    @property
    def surface_code(self) -> int:
        return SURFACE_CODES[self.surface]


@dataclass
class CandidateSet:
    """Aligned per-candidate arrays; stages add columns, filters take subsets."""

    product_ids: np.ndarray
    source_scores: dict[str, np.ndarray] = field(default_factory=dict)  # NaN: not from it
    source_ranks: dict[str, np.ndarray] = field(default_factory=dict)  # 0: not from it
    features: np.ndarray | None = None
    scores: np.ndarray | None = None  # model scores, never changed by rules
    adjustments: np.ndarray | None = None  # rule moves, added to scores for ordering
    # each candidate's notes (``rule_notes[i].append(note)``), a list made only when asked for
    # (:class:`~ranking.pipeline.rule_notes.RuleNotes`); a list of lists given is held as one
    rule_notes: RuleNotes = field(default_factory=lambda: RuleNotes(0))
    # rules that move every candidate (value tilt): name -> (move per candidate, why up, why
    # down); notes are made only for the cards explained (:meth:`notes`), not per candidate
    rule_moves: dict[str, tuple[np.ndarray, str, str]] = field(default_factory=dict)
    # rules that move some candidates by a stated amount (the operator's boosts and buries): (the
    # note, move per candidate); like rule_moves, noted only for the cards explained (:meth:`notes`)
    noted_moves: list[tuple[dict, np.ndarray]] = field(default_factory=list)
    # (product table, its located rows) of the last :meth:`rows_in`: filters, adjusters and
    # selectors read about 18 product columns per request, each of which looked every candidate
    # up again. A set made by ``take`` takes them from its parent's (:meth:`_taken_rows`); a
    # swapped table (the live catalog replaces it whole) is looked up anew.
    _rows: tuple | None = field(default=None, repr=False, compare=False)

    def rows_in(self, products: EntityTable) -> Located:
        """Each candidate's row in ``products``, :func:`~ranking.features.snapshot.located`
        (for ``EntityTable.take_located``), looked up once per table."""
        if self._rows is None or self._rows[0] is not products or self._rows[1] is not self.product_ids:
            # a kept union's ids (read-only, the same array every repeat): looked up once per table
            self._rows = (products, self.product_ids, kept_located(products, self.product_ids))
        return self._rows[2]

    def __post_init__(self) -> None:
        self.product_ids = np.asarray(self.product_ids, dtype=np.int64)
        if self.adjustments is None:
            self.adjustments = np.zeros(len(self.product_ids))
        if not isinstance(self.rule_notes, RuleNotes):
            self.rule_notes = RuleNotes.of(self.rule_notes)
        if not len(self.rule_notes):
            self.rule_notes = RuleNotes(len(self.product_ids))

    def __len__(self) -> int:
        return len(self.product_ids)

    @property
    def sources(self) -> list[list[str]]:
        """The sources that recalled each candidate (provenance)."""
        names = list(self.source_ranks)
        if not names:
            return [[] for _ in range(len(self))]
        # each source's recalled rows as Python ints, appended in the sources' order: a numpy
        # scalar per card and source cost ~0.1 ms a page, a (cards x sources) table of bools
        # stacked and scanned per card ~50 us on a 20-card homepage of ten sources, this ~15
        out: list[list[str]] = [[] for _ in range(len(self))]
        for n in names:
            for i in (self.source_ranks[n] > 0).nonzero()[0].tolist():
                out[i].append(n)
        return out

    def take(self, rows: np.ndarray) -> CandidateSet:
        """The candidates at ``rows`` (a boolean mask or indices), every column aligned."""
        rows = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows, dtype=np.int64)
        product_ids = self.product_ids[rows]
        return CandidateSet(
            product_ids=product_ids,
            source_scores={k: v[rows] for k, v in self.source_scores.items()},
            source_ranks={k: v[rows] for k, v in self.source_ranks.items()},
            features=None if self.features is None else self.features[rows],
            scores=None if self.scores is None else self.scores[rows],
            adjustments=self.adjustments[rows],
            rule_notes=self.rule_notes.take(rows),
            rule_moves={k: (v[rows], up, down) for k, (v, up, down) in self.rule_moves.items()},
            noted_moves=[(note, v[rows]) for note, v in self.noted_moves],
            _rows=self._taken_rows(rows, product_ids),
        )

    def _taken_rows(self, rows: np.ndarray, product_ids: np.ndarray) -> tuple | None:
        """:meth:`rows_in`'s located rows for ``take(rows)``, taken from this set's when it has
        them (the next filter reads its columns without looking every candidate up again)."""
        if self._rows is None or self._rows[1] is not self.product_ids:
            return None
        products, _, at = self._rows
        return products, product_ids, at.taken(rows)

    def notes(self, i: int) -> list[dict]:
        """Every rule that moved or placed candidate ``i``, as ``explain`` shows them."""
        out = list(self.rule_notes[i])
        for name, (moves, up, down) in self.rule_moves.items():
            delta = float(moves[i])
            if abs(delta) > 1e-9:
                out.append({"rule": name, "delta": delta, "why": up if delta > 0 else down})
        for note, moves in self.noted_moves:
            if moves[i] != 0:
                out.append({**note, "delta": float(moves[i])})
        return out

    @classmethod
    def union(cls, parts: Lists) -> CandidateSet:
        """Deduplicated union of sources' (product ids, scores) lists, provenance kept.

        Ranks are 1-based in each source's own order; order of the union is by first
        appearance, sources in the given order.
        """
        return cls.union_counted(parts)[0]

    @classmethod
    def union_counted(cls, parts: Lists, added: Lists | None = None) -> tuple[CandidateSet, int]:
        """:meth:`union` of ``parts`` and then ``added`` (more lists, listed after every source's:
        the pinned products), and how many distinct ids ``parts`` alone listed (the recalled
        candidates, which come first)."""
        if added and parts.keys() & added.keys():
            raise ValueError(f"lists named twice: {sorted(parts.keys() & added.keys())}")
        listed = sum(len(ids) for ids, _ in parts.values())
        parts = {**parts, **added} if added else parts
        all_ids = [np.asarray(ids, dtype=np.int64) for ids, _ in parts.values()]
        if len(all_ids) == 1 and _distinct(all_ids[0]):  # a caller's own list (rerank), as a rule
            return cls._one_list(parts), listed
        merged = np.concatenate(all_ids) if all_ids else np.zeros(0, dtype=np.int64)
        product_ids, where = first_listings(merged)
        n, lengths = len(product_ids), [len(ids) for ids in all_ids]
        source = np.repeat(np.arange(len(all_ids)), lengths)
        starts = np.repeat(np.cumsum([0, *lengths])[:-1], lengths)
        cell = source * n + where  # (source, candidate) of every listed id
        vals = [np.asarray(v, dtype=np.float64) for _, v in parts.values()]
        sc = np.full((len(all_ids), n), np.nan)
        rk = np.zeros((len(all_ids), n), dtype=np.int32)
        # written in reverse, so the first occurrence inside one source wins
        sc.ravel()[cell[::-1]] = (np.concatenate(vals) if vals else np.zeros(0))[::-1]
        rk.ravel()[cell[::-1]] = (np.arange(len(merged)) - starts + 1)[::-1]
        scores = {name: sc[i] for i, name in enumerate(parts)}
        ranks = {name: rk[i] for i, name in enumerate(parts)}
        # the candidates are in first-listing order: the sources' distinct ids are the first ones
        recalled = int(where[:listed].max()) + 1 if listed else 0
        return cls(product_ids, scores, ranks), recalled

    @classmethod
    def _one_list(cls, parts: Lists) -> CandidateSet:
        """:meth:`union` of one list whose ids are distinct: the list itself, ranked 1..n (copies,
        as the union's columns are new arrays), without ``first_listings``' sort of keys and
        scatters (about 60 us of a rerank-500's 70)."""
        ((name, (ids, scores)),) = parts.items()
        ids = np.array(ids, dtype=np.int64)
        return cls(ids, {name: np.array(scores, dtype=np.float64)},
                   {name: np.arange(1, len(ids) + 1, dtype=np.int32)})


def _distinct(ids: np.ndarray) -> bool:
    """Whether no id repeats in ``ids`` (one plain sort)."""
    ordered = np.sort(ids)
    return not (ordered[1:] == ordered[:-1]).any()


def first_listings(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct ``ids`` by first appearance, each listed id's index among them), from one
    sort of the listed ids (int64).

    The sort is of ``id << b | position`` keys (``b`` bits hold a position) when the ids fit:
    the keys are distinct, so numpy's fastest (unstable, vectorised) sort of the values gives
    the stable order, about 5x cheaper than ``np.unique``'s stable argsort over a search's
    ~1,000 listed ids. Negative or huge ids take the stable argsort.
    """
    m = len(ids)
    if not m:
        return ids, np.zeros(0, dtype=np.int64)
    bits = m.bit_length()
    if ids.view(np.uint64).max() < 1 << (62 - bits):  # as uint64 a negative id is past any bound
        keys = np.sort((ids << bits) | np.arange(m))
        ordered, order = keys >> bits, keys & ((1 << bits) - 1)
    else:
        order = np.argsort(ids, kind="stable")
        ordered = ids[order]
    starts = np.empty(m, dtype=bool)  # each distinct id's first place in the sorted order
    starts[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    firsts = order[starts]  # each distinct id's first listing (sorted by id, so by position among equals)
    is_first = np.zeros(m, dtype=bool)
    is_first[firsts] = True
    candidate = (np.cumsum(is_first) - 1)[firsts]  # each distinct id's index by first appearance
    where = np.empty(m, dtype=np.int64)
    where[order] = candidate[np.cumsum(starts) - 1]
    return ids[is_first], where
