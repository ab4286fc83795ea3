"""The ``recall/`` part of a bundle: search and homepage recall, wired into the pipelines.

``write_recall_part(folder, search, homepage)`` saves both; ``load_recall_part`` (which
``Engine.load`` calls when the bundle has a ``recall/`` part) loads them and hands the
pipelines their candidate sources (``lexical``, ``dense`` for search; the ten homepage
sources, each its own source so provenance is kept), the ``dense_similarity`` feature,
``similar`` and the query spelling corrector (built from the search vocabulary at load,
``recall.spelling_*``).
A search part saved by an older tokenizer loads only if the current one reads the
bundle's catalog text alike, else it is a :class:`~ranking.bundle.BundleError` saying to
rebuild (:func:`ranking.recall.tokenize.require_current_tokens`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ranking.bundle import BundleError
from ranking.merchandising.synonym_index import rewrite_of
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.pipeline import CandidateSource, ExtraFeatures
from ranking.recall.homepage import SOURCES, HomepageRecall
from ranking.recall.search import SearchRecall
from ranking.recall.spelling import SpellCorrection
from ranking.recall.tokenize import TokenizerVersionError

PART = "recall"


def search_folder(recall_folder: Path | str) -> Path:
    """Where a bundle's recall part keeps its search recall (``SearchRecall.save``'s folder)."""
    return Path(recall_folder) / "search"
LEXICAL, DENSE = "lexical", "dense"  # the search sources' names, as cards' ``sources`` show them


@dataclass
class RecallPieces:
    """What a recall part contributes to the pipelines."""

    search_sources: list[CandidateSource] = field(default_factory=list)
    homepage_sources: list[CandidateSource] = field(default_factory=list)
    extra_features: list[ExtraFeatures] = field(default_factory=list)
    similar: Callable[[int, int], tuple[np.ndarray, np.ndarray]] | None = None
    correct_query: Callable[[str], SpellCorrection] | None = None
    manifest: dict = field(default_factory=dict)
    text_sources: list[str] = field(default_factory=list)  # search sources matching query words
    # (product ids, their leaf rows, consumable leaf rows) of the homepage recall, for the live state
    product_leaves: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    # the recall objects themselves, for adding products after load (ranking.live.new_products)
    search: SearchRecall | None = None
    homepage: HomepageRecall | None = None


def write_recall_part(folder: Path, search: SearchRecall, homepage: HomepageRecall | None) -> None:
    search.save(search_folder(folder))
    if homepage is not None:
        homepage.save(Path(folder) / "homepage")


class SearchSource:
    """One search recall source (``lexical`` or ``dense``) as a pipeline candidate source.

    Neither hops to the recall pool (``pooled``), not even for a query asked the first time, when
    both compute: the lexical scoring is Python and numpy that holds the interpreter lock, so it
    overlapped little with the dense scan and the hand-offs cost CPU. A first-time search
    (``python -m bench.request_components BUNDLE --app --pipelines search --requests 300
    --distinct 400``, three alternations on a quiet machine) cost 10.12, 10.86, 11.58 ms of CPU
    pooled against 9.04, 9.89, 9.04 inline, at the same wall (8.89, 9.19, 9.73 against 8.95,
    9.81, 8.96 ms).

    The dense scan on the pool beside the lexical recall was tried and reverted (commit 786c74d
    and its revert; docs/speed.md, "Stop 50", has the readings): faiss releases the lock, but the
    hand-off's two thread wakeups cost about what the lexical recall it would overlap takes."""

    pooled = False

    def __init__(self, name: str, search: SearchRecall) -> None:
        self.name = name
        self._search = search

    def recall(self, request: RankRequest, k: int) -> tuple[np.ndarray, np.ndarray]:
        if not request.query:
            return np.zeros(0, np.int64), np.zeros(0)
        if self.name == LEXICAL:  # with the operator's synonyms, when the request's book has some
            return self._search.lexical(request.query, k, rewrite_of(request))
        return self._search.dense(request.query, k, request.hydrated)  # the query's vector kept


# the homepage sources that hop to the recall pool: none. Every source costs less than the hop
# (0.02-0.3 ms each) or, ``personal``'s one FAISS scan (~0.5 ms, the GIL released while it
# scans; none once the shopper's list is kept, Personal.lists), overlaps too little with the others
# to pay for it. The recall stage alone on the demo bundle, every request a new shopper, personal
# pooled and not in turn in one process (load 3-4 on 2 cores): CPU median 2.02 ms pooled, 1.71
# inline; wall median 2.57 and 2.74. Pooled, the request thread lost the GIL to the pool thread on
# most homepages for up to a switch interval (5 ms), which cProfile showed inside ``np.arange``.
# ``similar`` scans only for a seed it has not kept yet (Similar.neighbours). Pipeline._recall
# reads ``pooled``
POOLED_HOMEPAGE: frozenset[str] = frozenset()


class HomepageSource:
    """One homepage source, quota from settings; the request's shopper context is built
    once and shared by all ten."""

    def __init__(self, name: str, homepage: HomepageRecall) -> None:
        self.name = name
        self._homepage = homepage
        self._quota = homepage.quotas.get(name, 0)  # as of load, as the settings gave them
        self.pooled = name in POOLED_HOMEPAGE

    def recall(self, request: RankRequest, k: int) -> tuple[np.ndarray, np.ndarray]:
        got = self._homepage.source(self.name, self._homepage.context_for(request), self._quota)
        return got if got is not None else (np.zeros(0, np.int64), np.zeros(0))


def load_search_recall(bundle) -> SearchRecall | None:
    """The bundle's search recall (None when it has none), read as this tokenizer reads its
    snapshot's catalog text; a part an older tokenizer cut differently is a
    :class:`~ranking.bundle.BundleError` saying to rebuild. The service, ``shelfrank
    evaluate`` and the debias study all load it here."""
    search_dir = search_folder(bundle.path / PART)
    if not search_dir.is_dir():
        return None
    try:
        return SearchRecall.load(search_dir, bundle.snapshot.text.characters())
    except TokenizerVersionError as exc:
        raise BundleError(f"{bundle.path}: {exc}") from exc


def load_recall_part(folder: Path, bundle, settings) -> RecallPieces:
    """The pipelines' pieces from a bundle's ``recall/`` part (folder), under these settings."""
    pieces = RecallPieces()
    search = load_search_recall(bundle)
    if search is not None:
        search.use_speller_from(settings.recall)
        search.use_query_words_from(settings.recall)
        search.use_synonyms_from(settings.merchandising)
        pieces.search = search
        pieces.correct_query = search.correct
        pieces.search_sources = [SearchSource(LEXICAL, search), SearchSource(DENSE, search)]
        pieces.text_sources = [LEXICAL]  # a lexical card's text holds a word of the query

        def dense_similarity(request: RankRequest, cands: CandidateSet) -> dict[str, np.ndarray]:
            query = request.query if request.surface == "search" else None
            return {"dense_similarity": search.query_similarity(  # the dense source's query vector
                query, cands.product_ids, request.hydrated)}  # kept per query and candidates

        pieces.extra_features.append(dense_similarity)
        pieces.manifest["search"] = search.manifest
    home_dir = folder / "homepage"
    if home_dir.is_dir():
        homepage = HomepageRecall.load(home_dir)
        homepage.quotas.update(settings.recall.homepage_quotas)
        homepage.source_weights.update(settings.recall.homepage_source_weights)
        pieces.homepage = homepage
        pieces.homepage_sources = [HomepageSource(s, homepage) for s in SOURCES]
        pieces.similar = homepage.similar
        if "product_leaf" in homepage.a:
            pieces.product_leaves = (homepage.a["product_ids"], homepage.a["product_leaf"],
                                     homepage.a["consumable_leaf"])
    return pieces

