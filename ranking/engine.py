"""The ranking engine: a loaded bundle wired into the search, homepage and rerank pipelines.

Pure Python over numpy (no web framework): the service wraps it in HTTP, offline
scripts and the closed-loop simulation call it directly. ``Engine.load`` verifies the
bundle (hashes, feature schema, model/schema agreement) and builds every pipeline once;
``rank`` turns a :class:`RankRequest` into a page of cards, each with the fields a
product card shows, its provenance and, when asked, its explanation; a search page also
says which query words each card and the page matched, and gives a notice when the
strongest words are in no product (:mod:`ranking.recall.page_words`). The request's book
(``RankRequest.merchandising``) adds its synonym terms to search recall and the page records
the sets that fired (``RankedPage.synonyms``); no book or an empty one changes nothing.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ranking.bundle import Bundle, BundleError, load_bundle
from ranking.card_badges import CardBadges
from ranking.card_columns import card_store_names, card_titles
from ranking.catalog import CATALOG_PART, CardCatalog
from ranking.explanation import explain_page
from ranking.features import features
from ranking.features.per_product import built_product_feature_table, no_builds_aside
from ranking.features.snapshot import EntityTable
from ranking.live.catalog_overlay import carrying_store_bans
from ranking.live.features import LIVE_COLUMNS
from ranking.merchandising.synonym_index import rewrite_of
from ranking.pipeline import Pipeline, RankRequest
from ranking.pipeline.adjusters import default_adjusters
from ranking.pipeline.adjusters.exposure_pacing import ExposurePacing
from ranking.pipeline.adjusters.subsidy_theme import SubsidyTheme
from ranking.pipeline.candidates import CandidateSet
from ranking.pipeline.dropped import DroppedEntries
from ranking.pipeline.filters import Governance, KnownProducts, default_filters
from ranking.pipeline.filters.governance import BARRED, BARRED_COLUMNS
from ranking.pipeline.filters.relevance_floor import RelevanceFloor
from ranking.pipeline.live_features import LiveFeatures
from ranking.pipeline.pipeline import CallerCandidates
from ranking.pipeline.traffic_grades import STORE_SCORES_OF_PRODUCTS
from ranking.recall.bundle_part import DENSE, RecallPieces, load_recall_part
from ranking.recall.bundle_part import PART as RECALL_PART
from ranking.recall.category_browse import CategoryBrowse, InCategory
from ranking.recall.page_words import count_cards, page_words
from ranking.recall.spelling import SpellCorrection
from ranking.recall.subsidy_channel import SubsidyChannel, subsidy_eligible
from ranking.recall.tokenize import searchable
from ranking.settings import RulesSettings, Settings
from ranking.sorted_sets import unique_sorted
from ranking.surfaces import CATEGORY_CHANNEL, CHANNEL, SUBSIDY_CHANNEL


@dataclass
class RankedPage:
    cards: list[dict]
    # each {"product_id", "reason", "stage"}: the engine's arrays (DroppedEntries, written to JSON
    # from them), or a plain list once interleaving merged two pages'
    dropped: DroppedEntries | list[dict]
    timings: dict[str, float]
    recalled: int
    text_matched: list[bool] | None = None  # search: per card, the query's strongest word is in its text
    live_features: dict[str, list] | None = None  # per live feature, the cards' values (when asked)
    query_words: list[dict] | None = None  # search: per query word, cards and catalog products holding it
    notice: dict | None = None  # search: partial-match or no-match notice
    # the operator's rules that acted on this request, and the page the front end should open
    # instead (ranking.merchandising.page_report)
    rules_applied: list[str] = field(default_factory=list)
    redirect: dict | None = None
    # search: the operator's synonym sets that fired, [{"id", "terms_added"}]; None when none did
    synonyms: list[dict] | None = None

    @property
    def text_match(self) -> bool | None:
        """Search: whether some card's text holds the query's strongest word (None off search)."""
        return any(self.text_matched) if self.text_matched is not None else None

    def words_counted_on(self, cards: list[dict]) -> list[dict] | None:
        """Search: this page's query words with their ``cards`` counted over ``cards`` (a page
        merged from several, as interleaving makes); None off search."""
        return None if self.query_words is None else count_cards(self.query_words, cards)


def _same(held: tuple[weakref.ref, ...] | None, parts: tuple[weakref.ref, ...] | None) -> bool:
    """Whether two :meth:`Engine._kept_for` readings name the very same live objects."""
    return held is not None and parts is not None and len(held) == len(parts) and \
        all(a() is not None and a() is b() for a, b in zip(held, parts, strict=True))


class Engine:
    """Everything needed to rank, from one bundle."""

    def __init__(self, bundle: Bundle, catalog: CardCatalog, settings: Settings,
                 recall: list[RecallPieces]) -> None:
        self.bundle = bundle
        self.catalog = catalog
        self.settings = settings
        self.snapshot = bundle.snapshot
        # the live catalog's store bans as a column from the start (zeros: a bundle has none), so a
        # store's first ban changes its values and adds no column (ranking/live/catalog_overlay.py)
        self.snapshot.products = carrying_store_bans(self.snapshot.products)
        self.executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="recall")
        self.closers: list[Callable[[], None]] = []  # what parts started by the engine stop at close
        self.recall = recall
        self.similar_fn = next((r.similar for r in recall if r.similar is not None), None)
        self.correct_fn = next((r.correct_query for r in recall if r.correct_query is not None),
                               SpellCorrection.as_typed)
        self.text_sources = {name for r in recall for name in r.text_sources}
        self.search = next((r.search for r in recall if r.search is not None), None)
        self._by_rules: dict[str, dict[str, Pipeline]] = {}
        self._categories: set[int] | None = None
        self._badges = CardBadges()  # every product's steady badges, per version of their columns
        # the parts (``_kept_for``) the warm-up's or build_tables' pages were last ranked on, and
        # those pages' (pipeline, hour): ``build_tables`` ranks again only what they did not see
        self._ranked: tuple[tuple[weakref.ref, ...] | None, frozenset] = (None, frozenset())
        self.pipelines = self.pipelines_for(settings.rules)
        by_name = {f.name: f.group for f in features()}
        self.feature_groups = [by_name.get(n, "other") for n in bundle.model.feature_names]

    def pipelines_for(self, rules: RulesSettings) -> dict[str, Pipeline]:
        """The three pipelines under these rule settings (built once per distinct rules)."""
        key = rules.model_dump_json()
        cached = self._by_rules.get(key)
        if cached is not None:
            return cached
        recall = self.recall
        # the live columns cost a counters read per request: only for a model that reads them,
        # or when served values are logged
        reads_live = (bool(set(LIVE_COLUMNS) & set(self.bundle.model.feature_names))
                      or self.settings.live.log_feature_share > 0)
        common = {"snapshot": self.bundle.snapshot, "model": self.bundle.model, "rules": rules,
                  "recall_k": self.settings.recall.candidates,
                  "extra_features": [f for r in recall for f in r.extra_features]
                  + ([LiveFeatures(self.bundle.snapshot, self.settings.live)] if reads_live else []),
                  "executor": self.executor, "live": self.settings.live,
                  "merchandising": self.settings.merchandising, "badges": self.settings.badges,
                  "cold_start": self.settings.cold_start}
        search_filters = default_filters(rules, self.settings.live, self.settings.merchandising,
                                         self.settings.badges)
        if self.search is not None:
            floor = self.settings.recall.relevance_floor
            search_filters.append(RelevanceFloor(floor, self.text_sources, DENSE))
        built = {
            "search": Pipeline("search", [s for r in recall for s in r.search_sources],
                               filters=search_filters, **common),
            "homepage": Pipeline("homepage", [s for r in recall for s in r.homepage_sources], **common),
            "rerank": Pipeline("rerank", [CallerCandidates()], adds_pinned=False, **common),
        }
        built.update(self._channel_pipelines(rules, common))
        self._by_rules[key] = built
        return built

    def _channel_pipelines(self, rules: RulesSettings, common: dict) -> dict[str, Pipeline]:
        """The channel pages (docs/channels.md): ``subsidy``, the big-brand subsidy channel (its own
        eligible recall, the theme and session boosts and the brands' exposure pacing before the
        operator's moves; every card is a subsidy card, so the surface's subsidy share does not
        cap it), and ``category``, a category browsed without a query (its prior recall and the
        homepage's sources restricted to it)."""
        channels, timezone = self.settings.channels, self.settings.mall.timezone
        score_is_log_odds = getattr(self.bundle.model, "score_is_log_odds", False)
        *before, operator = default_adjusters(rules, score_is_log_odds, self.settings.live,
                                              self.settings.merchandising)
        subsidy_rules = rules.model_copy(update={"subsidy_share_max": {**rules.subsidy_share_max,
                                                                       CHANNEL: 1.0}})
        snap = self.bundle.snapshot
        return {
            SUBSIDY_CHANNEL: Pipeline(
                SUBSIDY_CHANNEL, [SubsidyChannel(snap, channels)],
                adjusters=[*before, SubsidyTheme(channels, timezone), ExposurePacing(channels, timezone),
                           operator], **{**common, "rules": subsidy_rules}),
            CATEGORY_CHANNEL: Pipeline(
                CATEGORY_CHANNEL, [CategoryBrowse(snap, channels)]
                + [InCategory(s, snap) for r in self.recall for s in r.homepage_sources], **common),
        }

    @property
    def version(self) -> str:
        return self.bundle.version

    @classmethod
    def load(cls, path: str | Path, settings: Settings, models_dir: str | Path | None = None,
             tables: bool = True) -> Engine:
        """Load and verify a bundle; raise :class:`BundleError` with the reason if unusable.
        ``tables``: build the per-product tables now (:meth:`build_tables`); False for a caller
        that builds them once it has laid the live catalog over the product table (the service:
        ``serving/state.py``), so the 1M table is built once, not for the bundle's table first."""
        bundle = load_bundle(path) if models_dir is None else load_bundle(_inside(path, models_dir))
        catalog_dir = bundle.path / CATALOG_PART
        if not catalog_dir.is_dir():
            raise BundleError(f"{bundle.path}: no {CATALOG_PART}/ part (titles and store names)")
        catalog = CardCatalog.load(catalog_dir)
        recall_dir = bundle.path / RECALL_PART
        recall = [load_recall_part(recall_dir, bundle, settings)] if recall_dir.is_dir() else []
        engine = cls(bundle, catalog, settings, recall)
        engine.warm_up()
        if tables:
            engine.build_tables()
        return engine

    def warm_up(self) -> dict[str, float]:
        """Rank once through every pipeline (with explanations) before serving anything.

        A bundle that verifies but cannot rank is refused here, with the reason, instead of
        failing its first requests; and one-time work (lazily built structures, first
        touches of a 1M-product snapshot, the compiled scorer's first call) is paid now, not
        by the first shopper (``python -m bench.request_path BUNDLE`` prints what each
        pipeline's warm-up took). The pages start no build aside of the per-product tables
        (:func:`~ranking.features.per_product.no_builds_aside`): :meth:`build_tables` builds them.
        """
        self.warm_up_seconds: dict[str, float] = {}
        parts = self._kept_for()
        with no_builds_aside():
            pages = self._warm_requests()
            for name, request in pages:
                started = time.perf_counter()
                try:
                    self.rank(name, request)
                except Exception as exc:  # any failure means this bundle must not serve
                    raise BundleError(f"{self.bundle.path}: the {name} pipeline failed its warm-up "
                                      f"request: {type(exc).__name__}: {exc}") from exc
                self.warm_up_seconds[name] = time.perf_counter() - started
        self._ranked = (parts, frozenset((name, r.hour) for name, r in pages))
        return self.warm_up_seconds

    def _warm_requests(self, every_slot: bool = False) -> list[tuple[str, RankRequest]]:
        """One request per pipeline (name, request), with explanations, at hours of every time slot
        (08: the morning's, 12, 20: theme boost's theme codes are kept per slot); ``every_slot``: the
        homepage at each slot's hour too (its theme source keeps its list per slot)."""
        snap = self.snapshot
        ids = snap.products.ids[: min(200, len(snap.products.ids))]
        user = int(snap.users.ids[0]) if len(snap.users.ids) else None
        word = next((w for w in snap.text.vocabulary if len(w) >= 2), "a")
        requests = {
            "rerank": RankRequest(surface="homepage", page_size=10, now_ms=snap.as_of_ms, hour=12,
                                  user_id=user, candidates=np.asarray(ids, dtype=np.int64), explain=True),
            "search": RankRequest(surface="search", page_size=10, now_ms=snap.as_of_ms, hour=8,
                                  user_id=user, query=word, explain=True),
            "homepage": RankRequest(surface="homepage", page_size=10, now_ms=snap.as_of_ms, hour=20,
                                    user_id=user, explain=True),
            SUBSIDY_CHANNEL: RankRequest(surface=CHANNEL, page_size=10, now_ms=snap.as_of_ms, hour=12,
                                         user_id=user, explain=True, channel=SUBSIDY_CHANNEL,
                                         channel_exposures={}),
        }
        if "category_id" in snap.products.columns and len(snap.products.ids):
            requests[CATEGORY_CHANNEL] = RankRequest(
                surface=CHANNEL, page_size=10, now_ms=snap.as_of_ms, hour=20, user_id=user, explain=True,
                channel=CATEGORY_CHANNEL, category_id=int(snap.products.columns["category_id"][0]))
        pages = [(name, r) for name, r in requests.items() if name in self.pipelines]
        if every_slot:
            home = requests["homepage"]
            pages += [("homepage", replace(home, hour=hour)) for hour in (8, 12)]
        return pages

    def build_tables(self) -> None:
        """Build now (on this thread) what the pages keep per product table, for the product table
        served now: every pipeline model's per-product feature table
        (:func:`~ranking.features.per_product.built_product_feature_table`), then what a page
        builds on its first call after the table (or the homepage's availability mask) was swapped,
        by ranking the warm-up's pages again (:meth:`_warm_requests`): the derived columns (theme
        codes of every time slot, grades, select keys, card places...), the homepage lists'
        available rows and heads, cold start's facts, the cards' badges (at 1M products the first
        homepage after start built ~80 ms of them, the first search ~18 ms).

        Pages already ranked on the very parts served now (the product table, the catalog text, the
        homepage's sources: :meth:`_kept_for`) are not ranked again: when the live catalog's first
        overlay kept the bundle's table (no change logged), the warm-up's pages built what they
        keep, and only the homepage's other time slots are left (``python -m bench.start_tables
        BUNDLE``). A homepage availability mask replaced meanwhile carries what it kept
        (``HomepageRecall.follow_catalog``)."""
        for pipeline in self.pipelines.values():
            built_product_feature_table(pipeline.snapshot, pipeline.model.feature_names)
        parts = self._kept_for()
        held, ranked = self._ranked
        if not _same(held, parts):
            ranked = frozenset()
        pages = self._warm_requests(every_slot=True)
        for name, request in pages:
            if (name, request.hour) not in ranked:
                self.rank(name, request)
        self._ranked = (parts, frozenset((name, r.hour) for name, r in pages))

    def _kept_for(self) -> tuple[weakref.ref, ...] | None:
        """Weak references to what the pages keep their values for and a live change replaces
        with new objects (never in place): the product table, the catalog text and each homepage
        source (new ones when the lists change: ``HomepageRecall.replace_arrays``); None when one
        cannot be referenced weakly (then every page is ranked again)."""
        snap = self.snapshot
        parts = [snap.products, snap.text]
        for recall in self.recall:
            homepage = getattr(recall, "homepage", None)
            parts += list(getattr(homepage, "components", ()))
        try:
            return tuple(weakref.ref(part) for part in parts)
        except TypeError:
            return None

    def close(self) -> None:
        self.executor.shutdown(wait=False)
        for close in self.closers:  # the new products' worker process, if an add started one
            close()

    # ---- ranking -------------------------------------------------------------------------
    def rank(self, pipeline: str, request: RankRequest, rules: RulesSettings | None = None) -> RankedPage:
        pipelines = self.pipelines if rules is None else self.pipelines_for(rules)
        result = pipelines[pipeline].run(request)
        cards = self._cards(result.cards, result.propensity, request.now_ms)
        if request.explain:
            self._explain(cards, result.cards, result.contributions,
                          request.query if request.surface == "search" else None)
        live = live_values(self.bundle.model.feature_names, self.feature_groups, result.cards.features) \
            if request.log_features else None
        page = RankedPage(cards, result.dropped, result.timings, result.recalled, None, live,
                          rules_applied=result.extra.get("rules_applied", []),
                          redirect=result.extra.get("redirect"))
        if pipeline == "search" and self.search is not None and request.query:
            rewrite = rewrite_of(request)  # the book's synonyms (the lexical source computed it)
            said = page_words(self.search.query_words, request.query, cards, rewrite)
            page.text_matched, page.query_words = said.text_matched, said.query_words
            page.notice = said.notice
            page.synonyms = rewrite.record() if rewrite else None
        elif pipeline == "search":
            page.text_matched = [not self.text_sources.isdisjoint(c["sources"]) for c in cards]
        return page

    @staticmethod
    def searchable(query: str) -> bool:
        """Whether the query holds a word or character that a product's text could share
        (not only punctuation, symbols or emoji); search recall of one without is arbitrary."""
        return searchable(query)

    def correct_query(self, query: str, spell_correct: bool = True) -> SpellCorrection:
        """The query to rank with: the search recall's correction (``SearchRecall.correct``),
        or ``query`` as typed when the request opts out (``spell_correct=False``) or the
        bundle has no search recall."""
        return self.correct_fn(query) if spell_correct else SpellCorrection.as_typed(query)

    def similar(self, product_id: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``k`` products nearest to ``product_id``, without the ones governance never
        shows (banned, out of stock, unknown): the index is asked for more until ``k`` remain
        or it has no more."""
        if self.similar_fn is None:
            raise BundleError("this bundle has no item-to-item index")
        filters = [KnownProducts(), Governance(self.settings.rules)]
        want = k
        while True:
            ids, scores = self.similar_fn(product_id, want)
            cands = CandidateSet(ids)
            keep = np.ones(len(ids), dtype=bool)
            for f in filters:
                keep &= f.apply(cands, None, self.snapshot)[0]
            if keep.sum() >= k or len(ids) < want:
                return ids[keep][:k], scores[keep][:k]
            want *= 2

    def homepage_recalls(self) -> list:
        """The bundle's homepage recalls (HomepageRecall; none without homepage recall)."""
        return [r.homepage for r in self.recall if getattr(r, "homepage", None) is not None]

    def warm_homepage(self, user_id: int, hour: int, view: Any) -> bool:
        """Compute and keep every homepage source's list for the shopper with live ``view``, as
        their next homepage at ``hour`` asks it (:mod:`ranking.live.homepage_ahead`); whether this
        bundle has a homepage recall to warm."""
        recalls = self.homepage_recalls()
        for recall in recalls:
            recall.sources(user_id, hour, context=recall.context(user_id, hour, view))
        return bool(recalls)

    def product_leaves(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(product ids, their leaf rows, consumable leaf rows) as the homepage recall knows them,
        for the live state's catalog; None for a bundle without homepage recall."""
        return next((r.product_leaves for r in self.recall if r.product_leaves is not None), None)

    def knows_product(self, product_id: int) -> bool:
        return bool(self.snapshot.products.rows(np.array([product_id]))[0] >= 0)

    def knows_category(self, category_id: int) -> bool:
        """A leaf or top-level category that some product of the bundle is in."""
        if self._categories is None:
            cols = self.snapshot.products.columns
            self._categories = {int(c) for name in ("category_id", "top_category_id") if name in cols
                                for c in unique_sorted(cols[name])}
        return category_id in self._categories

    def prepare_badges(self, products: EntityTable) -> None:
        """The cards' steady badges of ``products`` built now, before it is swapped in (the live
        catalog, for new products: :mod:`ranking.live.catalog_tables`)."""
        self._badges.prepare(products)

    def forget_categories(self) -> None:
        """Products were added after load (:mod:`ranking.live.new_products`): ``knows_category``
        reads the product table anew."""
        self._categories = None

    def top_categories(self) -> list[dict]:
        """The top-level categories with their available products (in stock, not banned, not of a
        banned store: governance's barred codes, kept per version of those columns), most first
        (the category bar)."""
        products = self.snapshot.products
        if "top_category_id" not in products.columns:
            return []
        available = BARRED.of(products.ids, *(products.columns.get(c) for c in BARRED_COLUMNS))[:-1] == 0
        ids, counts = np.unique(products.columns["top_category_id"][available], return_counts=True)
        return [{"category_id": int(c), "products": int(n)} for c, n in
                sorted(zip(ids, counts, strict=True), key=lambda x: (-x[1], x[0]))]

    def subsidy_brands(self) -> np.ndarray:
        """Brand ids with a product the subsidy channel may show now (its participating brands)."""
        snap = self.snapshot
        rows = np.flatnonzero(subsidy_eligible(snap, self.settings.channels))
        return unique_sorted(snap.products.take("brand_id", rows, missing=-1).astype(np.int64))

    def knows_store(self, store_id: int) -> bool:
        return bool(self.snapshot.stores.rows(np.array([store_id]))[0] >= 0)

    def cards_for(self, product_ids: np.ndarray, scores: np.ndarray, now_ms: int | None = None) -> list[dict]:
        """Cards of given products and scores (``/similar``); badges as of ``now_ms`` (default now)."""
        c = CandidateSet(np.asarray(product_ids, dtype=np.int64))
        c.scores = np.asarray(scores, dtype=np.float64)
        return self._cards(c, np.ones(len(c)), int(time.time() * 1000) if now_ms is None else now_ms)

    def _cards(self, page: CandidateSet, propensity: np.ndarray, now_ms: int) -> list[dict]:
        snap = self.snapshot
        products = snap.products  # read once: the live catalog swaps the table whole
        at = page.rows_in(products)  # located once for every column (a placed page: taken from its set's)
        col = lambda name, missing=np.nan: products.take_located(name, at, missing)  # noqa: E731
        store_ids = col("store_id", -1).astype(np.int64)
        stores = snap.stores
        if "store_experience_score" in stores.columns:  # each product's, kept per version of its sources
            read = (products.columns["store_id"], stores, stores.columns["store_experience_score"])
            store_score = STORE_SCORES_OF_PRODUCTS.candidates(products, page, *read)
        else:
            store_score = stores.take("store_experience_score", stores.rows(store_ids))
        catalog = self.catalog  # read once: the live catalog replaces it whole
        titles = card_titles(catalog, products, page, at)  # their places kept per version of the ids
        store_names = card_store_names(catalog, products, page, store_ids)
        price, adv, subsidy, pscore = col("price"), col("price_advantage"), col("subsidy", 0), \
            col("product_score")
        scores = page.scores if page.scores is not None else np.full(len(page), np.nan)
        sources = page.sources
        badges = self._badges.lists(products, at, now_ms, self.settings.badges.new_product_days)
        # whole columns to Python values once (numpy scalars one by one cost ~1 µs each)
        ids, stores = page.product_ids.tolist(), store_ids.tolist()
        price, adv, store_score, pscore = _nums(price), _nums(adv), _nums(store_score), _nums(pscore)
        final, model = _nums(scores + page.adjustments), _nums(scores)
        subsidy, propensity = (np.asarray(subsidy) > 0).tolist(), np.asarray(propensity, np.float64).tolist()
        columns = zip(ids, titles, price, adv, stores, store_names, store_score, pscore,
                      subsidy, badges, final, model, propensity, sources, strict=True)
        cards = [{  # one dict display per card, its values zipped (not 15 list lookups by index)
            "product_id": pid,
            "title": str(title),
            "price": p,
            "price_advantage": a,
            "store_id": sid,
            "store_name": str(name),
            "store_experience_score": ss,
            "product_score": ps,
            "subsidy": sub,
            "badges": bs,
            "score": f,
            "model_score": m,
            "position": i + 1,
            "propensity": pr,
            "sources": src,
        } for i, (pid, title, p, a, sid, name, ss, ps, sub, bs, f, m, pr, src) in enumerate(columns)]
        return cards

    def _explain(self, cards: list[dict], page: CandidateSet, contributions: np.ndarray | None,
                 query: str | None) -> None:
        if contributions is not None:
            explain_page(cards, page, contributions, self.bundle.model.feature_names, self.snapshot, query)


def live_values(names: list[str], groups: list[str], values: np.ndarray | None) -> dict[str, list] | None:
    """The placed cards' live feature values as served, per feature (None where missing)."""
    if values is None:
        return None
    return {n: [_num(v) for v in values[:, j]] for j, (n, g) in enumerate(zip(names, groups, strict=True))
            if g == "live"}


def _num(x: float) -> float | None:
    x = float(x)
    return None if np.isnan(x) else x


def _nums(values: np.ndarray) -> list[float | None]:
    """``_num`` of a whole column: Python floats, None where NaN."""
    return [None if v != v else v for v in np.asarray(values, dtype=np.float64).tolist()]


def _inside(path: str | Path, models_dir: str | Path) -> Path:
    from ranking.bundle import resolve_bundle

    return resolve_bundle(path, models_dir)
