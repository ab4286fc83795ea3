"""One pipeline, configured per surface: recall -> filter -> hydrate -> score -> adjust -> place.

Governance and request filters run before feature hydration, so removed candidates cost
nothing; the scorer never drops or reorders; the selector alone decides the page. Each
stage's seconds go into ``PipelineResult.timings`` (the service exports them as
per-stage latency histograms). Explanations (LightGBM ``pred_contrib``) are computed
only for the placed cards, and only when asked.

The operator's rules in force for the request (``RankRequest.merchandising``,
:mod:`ranking.merchandising`) join each stage: pinned products are added to the recalled
candidates, hides and filters are a filter, boosts and buries an adjuster, pins the first
selector; after placement the page reports pins not honoured, the redirect and the rules applied
(``PipelineResult.extra``). No book: none of it runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ranking.features import FeatureSnapshot, compute_features
from ranking.features.inputs import Requests, build_inputs
from ranking.features.per_product import ready_product_feature_table
from ranking.merchandising.in_force import rules_in_force
from ranking.merchandising.page_report import report_page
from ranking.merchandising.pins import pinned_list
from ranking.model import RankingModel
from ranking.pipeline.adjusters import Adjuster, default_adjusters
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.dropped import DroppedEntries
from ranking.pipeline.filters import Filter, default_filters
from ranking.pipeline.kept_union import KeptUnions
from ranking.pipeline.selector import Selector
from ranking.pipeline.selectors import default_selectors
from ranking.settings import (
    BadgeSettings,
    ColdStartSettings,
    LiveSettings,
    MerchandisingSettings,
    RulesSettings,
)


class CandidateSource(Protocol):
    """Recalls product ids (best first) with a score, for one request."""

    name: str

    def recall(self, request: RankRequest, k: int) -> tuple[np.ndarray, np.ndarray]:
        ...


ExtraFeatures = Callable[[RankRequest, CandidateSet], dict[str, np.ndarray]]


def costly_for(source: CandidateSource) -> bool:
    """Whether ``source``'s recall computes enough to be worth a hop to the recall
    pool: not when the source says it is cheap (``pooled = False``, every built-in source since
    stop 46: the pool is for a caller's own source that computes without the interpreter lock)."""
    return bool(getattr(source, "pooled", True))


class CallerCandidates:
    """The caller's own candidate list (``/v1/rerank``), in the order given."""

    name = "caller"

    def recall(self, request: RankRequest, k: int) -> tuple[np.ndarray, np.ndarray]:
        ids = np.asarray(request.candidates if request.candidates is not None else [], dtype=np.int64)
        return ids, -np.arange(len(ids), dtype=np.float64)


def caller_duplicates(candidates: np.ndarray | None, dropped: DroppedEntries,
                      distinct: int | None = None) -> None:
    """Every repeat of an id in the caller's candidates, as a dropped entry (the first
    occurrence is the one ranked), so the union's deduplication drops nothing unexplained.
    ``distinct``: how many distinct ids ``candidates`` holds, when known (the union of the
    caller's list alone counted them, after its own sort): as many as listed, none repeats and
    the list is not sorted again (~5 us of a rerank-500: timeit of the sort and the compare)."""
    if candidates is None or len(candidates) < 2 or distinct == len(candidates):
        return
    ids = np.asarray(candidates, dtype=np.int64)
    ordered = np.sort(ids)  # a plain sort finds whether any id repeats (a caller's list rarely
    if not (ordered[1:] == ordered[:-1]).any():  # does): np.unique's argsort only when one does
        return
    repeat = np.ones(len(ids), dtype=bool)
    repeat[np.unique(ids, return_index=True)[1]] = False
    dropped.add(ids[repeat], "duplicate", "recall")


@dataclass
class PipelineResult:
    cards: CandidateSet  # placed candidates, in page order
    propensity: np.ndarray
    dropped: DroppedEntries  # reads as a list of {"product_id", "reason", "stage"}
    timings: dict[str, float]
    contributions: np.ndarray | None = None  # (cards, features + 1) when explained
    recalled: int = 0
    extra: dict = field(default_factory=dict)


class Pipeline:
    """A configuration of sources, filters, adjusters and the selector over one bundle."""

    def __init__(
        self,
        name: str,
        sources: Sequence[CandidateSource],
        snapshot: FeatureSnapshot,
        model: RankingModel,
        rules: RulesSettings,
        recall_k: int = 500,
        extra_features: Sequence[ExtraFeatures] = (),
        filters: Sequence[Filter] | None = None,
        adjusters: Sequence[Adjuster] | None = None,
        executor: ThreadPoolExecutor | None = None,
        live: LiveSettings | None = None,
        merchandising: MerchandisingSettings | None = None,
        adds_pinned: bool = True,
        badges: BadgeSettings | None = None,
        cold_start: ColdStartSettings | None = None,
    ) -> None:
        self.name = name
        self.sources = list(sources)
        self.snapshot = snapshot
        self.model = model
        self.recall_k = recall_k
        self.extra_features = list(extra_features)
        self.merchandising = merchandising or MerchandisingSettings()
        # pinned products join the recalled candidates; False for a caller's own list (rerank),
        # where a pin places only a product the caller gave
        self.adds_pinned = adds_pinned
        self.filters = (list(filters) if filters is not None
                        else default_filters(rules, live, self.merchandising, badges))
        self.adjusters = (list(adjusters) if adjusters is not None
                          else default_adjusters(
                              rules, score_is_log_odds=getattr(model, "score_is_log_odds", False),
                              live=live, merchandising=self.merchandising))
        self.selector = Selector(rules, default_selectors(rules, self.merchandising, cold_start))
        self.executor = executor
        # the union of a repeated query's (or shopper's) lists, kept by their arrays (kept_union.py)
        self.unions = KeptUnions()
        # the caller's own list is the only one (rerank): the union counts its distinct ids
        self._caller_only = len(self.sources) == 1 and isinstance(self.sources[0], CallerCandidates)

    # ---- stages --------------------------------------------------------------------------
    def _recall(self, request: RankRequest,
                added: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> tuple[CandidateSet, int]:
        """The union of the sources' lists and then ``added``'s (the pinned products), and how
        many distinct products the sources recalled."""
        # a source is worth a hop to a pool thread only when it computes (``costly``) and another
        # costly source can overlap it: every costly source but the last hops, this thread runs
        # the rest. One that says it is not (``pooled = False``: every built-in source, homepage's
        # 20-300 us against ~60 us a hop under load, and search's, whose lexical scoring holds the
        # interpreter lock) stays here: the page thread handed the interpreter lock to the pool
        # thread and waited to get it back
        costly = [s for s in self.sources if costly_for(s)]
        if self.executor is not None and len(costly) > 1:
            futures = {s.name: self.executor.submit(s.recall, request, self.recall_k) for s in costly[:-1]}
            parts = {s.name: s.recall(request, self.recall_k) for s in self.sources if s.name not in futures}
            parts.update({name: f.result() for name, f in futures.items()})
            parts = {s.name: parts[s.name] for s in self.sources}  # sources' order
        else:
            parts = {s.name: s.recall(request, self.recall_k) for s in self.sources}
        return self.unions.union_counted(parts, added)

    def _filter(self, cands: CandidateSet, request: RankRequest,
                dropped: DroppedEntries | None = None) -> tuple[CandidateSet, DroppedEntries]:
        """The candidates every filter keeps, and each removed one appended to ``dropped`` (a new
        list when None) as arrays: the entries are made only if read (:mod:`.dropped`)."""
        dropped = DroppedEntries() if dropped is None else dropped
        for f in self.filters:
            keep, reason = f.apply(cands, request, self.snapshot)
            if keep.all():
                continue
            gone = ~keep
            dropped.add(cands.product_ids[gone], np.asarray(reason)[gone], f.name)
            cands = cands.take(keep)
        return cands, dropped

    def _hydrate(self, cands: CandidateSet, request: RankRequest) -> None:
        extra: dict[str, np.ndarray] = {}
        for provider in self.extra_features:
            extra.update(provider(request, cands))
        requests = Requests(
            user_id=np.array([request.user_id if request.user_id is not None else -1], dtype=np.int64),
            query_text=[request.query if request.surface == "search" else None],
            hour=np.array([request.hour]),
            surface=np.array([request.surface_code]),
        )
        # the per-product features of the current product table, computed once per table (not
        # per request: ranking.features.per_product says what rebuilds it); None while rebuilding
        table = ready_product_feature_table(self.snapshot, self.model.feature_names)
        inputs = build_inputs(self.snapshot, cands.product_ids, np.zeros(len(cands), dtype=np.int64),
                              requests, extra=extra, per_product=table)
        # F order: the model's float64 copy transposes it (ranking.features.registry.SMALL_BATCH)
        cands.features = compute_features(inputs, self.model.feature_names, any_order=True)

    def run(self, request: RankRequest) -> PipelineResult:
        timings: dict[str, float] = {}
        t = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal t
            now = time.perf_counter()
            timings[stage] = now - t
            t = now

        found = rules_in_force(request, self.merchandising)  # the operator's rules (None: none)
        # the pinned products join the recalled candidates as one more list (pins.pinned_list)
        cands, recalled = self._recall(request, pinned_list(found) if self.adds_pinned else None)
        lap("recall")
        dropped = DroppedEntries()
        # first, as the caller listed them
        caller_duplicates(request.candidates, dropped, recalled if self._caller_only else None)
        cands, dropped = self._filter(cands, request, dropped)
        lap("filter")
        self._hydrate(cands, request)
        lap("hydrate")
        cands.scores = self.model.score(cands.features) if len(cands) else np.zeros(0)
        lap("score")
        for adjuster in self.adjusters:
            adjuster.apply(cands, request, self.snapshot)
        lap("adjust")
        rng = np.random.default_rng(request.seed)
        placement = self.selector.place(cands, request, self.snapshot, rng)
        page = cands.take(placement.rows)
        report = report_page(found, cands, page, dropped, min(request.page_size, len(cands)),
                             self.merchandising.max_pins_per_page)
        dropped.extend(report.dropped)
        lap("select")
        contributions = None
        if request.explain and len(page):
            contributions = self.model.contributions(page.features)
            lap("explain")
        return PipelineResult(page, placement.propensity, dropped, timings, contributions, recalled,
                              {"rules_applied": report.rules_applied, "redirect": report.redirect})
