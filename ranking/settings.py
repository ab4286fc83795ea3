"""Every default of Shelfrank, in one visible settings object.

Sections are plain pydantic models; :class:`Settings` gathers them and reads overrides
from environment variables ``SHELFRANK_<SECTION>__<FIELD>`` (e.g.
``SHELFRANK_SCORES__WINDOW_DAYS=60``) and, on the command line, from
``shelfrank --set scores.window_days=60 ...``. ``shelfrank settings`` prints the
effective values.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    SerializationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from ranking.badges import ATTRIBUTE_BADGES
from ranking.surfaces import Surface

Scale = Literal["small", "default", "large"]
SECRET_MASK = "**********"
REVEAL_SECRETS = {"reveal_secrets": True}  # serialisation context of the one dump that keeps them


def _masked(value: SecretStr, info: SerializationInfo) -> str:
    """A secret in JSON: masked (empty stays empty, so "admin disabled" still shows), unless
    the dump is the service's own hand-over to its workers (:func:`settings_json_with_secrets`)."""
    if info.context and info.context.get("reveal_secrets"):
        return value.get_secret_value()
    return SECRET_MASK if value.get_secret_value() else ""


# a setting that must never reach a bundle, a log or a response: ``SecretStr`` (its repr and
# str are masked, reading it takes ``.get_secret_value()``) whose JSON is masked too
Secret = Annotated[SecretStr, PlainSerializer(_masked, return_type=str, when_used="json")]


CLIENT_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
RESERVED_CLIENTS = {"operator", "anonymous"}  # the admin token's identity; no credential


class Section(BaseModel):
    """A settings section: unknown keys are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class TreeSettings(Section):
    """The size and pace of one LightGBM model's trees. Each use subclasses it with its own
    defaults, so overriding one field (``SHELFRANK_TRAINING__FUNNEL__LEARNING_RATE``) keeps
    that use's defaults for the others."""

    num_leaves: int = Field(31, ge=2)
    learning_rate: float = Field(0.1, gt=0)
    min_data_in_leaf: int = Field(200, ge=1)
    num_boost_round: int = Field(100, ge=1, description="rounds (at most, where early-stopped)")

    def lightgbm_params(self) -> dict:
        """The LightGBM parameters these settings name (rounds are ``lgb.train``'s argument)."""
        return {"num_leaves": self.num_leaves, "learning_rate": self.learning_rate,
                "min_data_in_leaf": self.min_data_in_leaf}


class FunnelTreeSettings(TreeSettings):
    """Each funnel stage's trees (early-stopped). 31 leaves at 0.15: oracle NDCG@10 0.945 with
    171 trees, scoring as fast as LambdaRank's 91; 63 at 0.08 gave 0.946 with 228 trees, 2.3x
    slower (docs/ltr_evaluation.md)."""

    learning_rate: float = Field(0.15, gt=0)
    num_boost_round: int = Field(400, ge=1, description="most rounds per stage (early-stopped)")


class RewardTreeSettings(TreeSettings):
    """Each counterfactual reward model's trees (click and order)."""

    learning_rate: float = Field(0.08, gt=0)
    num_boost_round: int = Field(120, ge=1)


class MallSettings(Section):
    """The mall itself."""

    timezone: str = Field("Asia/Shanghai", description="local clock for hour-of-day themes")


class ScaleShape(Section):
    """How big a simulated mall is."""

    products: int
    stores: int
    brands: int
    users: int
    sessions: int
    days: int


SCALES: dict[str, ScaleShape] = {
    "small": ScaleShape(products=2_000, stores=60, brands=120, users=1_000, sessions=20_000, days=30),
    "default": ScaleShape(
        products=50_000, stores=1_000, brands=1_500, users=20_000, sessions=500_000, days=60
    ),
    "large": ScaleShape(
        products=1_000_000,
        stores=20_000,
        brands=20_000,
        users=200_000,
        sessions=5_000_000,
        days=60,
    ),
}


class SimulatorSettings(Section):
    """The shelf-mall simulator (docs/simulator.md)."""

    scale: Scale = "default"
    sessions: int | None = Field(
        None, ge=1, description="requests (pages) to simulate instead of the scale's (its `sessions`; "
                                "None: the scale's): the large scale's 1M-product catalog with fewer "
                                "requests trains on one machine (training's live-feature replay holds "
                                "every event in memory)")
    seed: int = Field(7, ge=0)
    start_date: date = Field(date(2026, 8, 1), description="first simulated day (mall time)")
    page_size_search: int = Field(20, ge=1, description="cards shown per search page")
    page_size_homepage: int = Field(20, ge=1, description="cards shown per homepage page")
    candidates_per_request: int = Field(40, ge=1, description="products the logging policy ranks")
    surface_shares: dict[str, float] = Field(
        {"search": 0.45, "homepage": 0.45, "channel": 0.10},
        description="share of sessions per surface",
    )
    randomised_share: float = Field(
        0.15, ge=0, le=1, description="share of requests whose top slots the logging policy shuffles"
    )
    randomised_top: int = Field(10, ge=2, description="how many top slots a randomised request shuffles")
    new_store_share: float = Field(0.08, ge=0, le=1, description="stores opened in the last 14 days")
    chunk_sessions: int = Field(250_000, ge=1_000, description="sessions simulated per chunk")
    session_max_pages: int = Field(
        6, ge=1, le=50, description="page budget of a session: a shopper leaves after this many requests "
                                    "at the latest (the scale's sessions count is divided by the expected "
                                    "pages per session, so the requests simulated stay about the same)")
    session_continue_probability: float = Field(
        0.6, ge=0, lt=1, description="after a page without an order the shopper asks for another with this "
                                     "probability (else fatigue ends the session); an order ends it")
    closed_loop_think_ms: float = Field(
        300.0, ge=0, le=60_000, description="the closed loop's shopper pauses this long after posting a "
        "page's events before asking for the next page (a real shopper reads for seconds; the live state "
        "sees an event within live.poll_ms plus its apply, so 0 would ask before it could react)")
    session_page_gap_seconds: tuple[int, int] = Field(
        (20, 180), description="seconds between two pages of a session (uniform between the two)")
    mission_boost: float = Field(
        1.0, ge=0, description="logit added to the click interest (and 0.4 x it to the purchase utility, as "
                               "every interest) of a product of the session's mission leaf on its first page")
    mission_sibling_share: float = Field(
        0.4, ge=0, le=1, description="share of the mission boost a product of a sibling leaf (same top "
                                     "category) gets")
    mission_half_life_pages: float = Field(
        3.0, gt=0, description="the mission boost halves every this many pages of the session")
    mission_search_share: float = Field(
        0.7, ge=0, le=1, description="share of a session's search pages that query the mission leaf (the "
                                     "others a leaf of the shopper's taste at the hour)")
    # creators and loyalty (training/simulator/creators.py, loyalty.py; docs/simulator.md)
    creators_per_thousand_products: float = Field(
        20.0, ge=0, description="creators (带货达人) per thousand products, so each scale has its own count; "
                                "0 = a mall without creators (no creator tables are written)")
    creator_products_mean: float = Field(
        5.0, ge=1, description="products a creator features on average (1 + Poisson); each picked from a "
                               "pool of random listings by the creator's latent product judgement")
    creator_attribution_share: float = Field(
        0.5, ge=0, le=1, description="share of the orders of a featured product attributed to one of the "
                                     "creators featuring it (creator_orders)")
    creator_lift: float = Field(
        0.4, ge=0, description="logit added to the click and the purchase utility of a product per unit of "
                               "its creator pull (0-1: how far above average its best creator is)")
    loyalty_bond_weight: float = Field(
        1.5, ge=0, description="purchase-utility logit of a full user-store bond (+1) for a fully loyal "
                               "shopper (latent loyalty 1); a bond of -1 subtracts it")
    loyalty_bond_step: float = Field(
        0.35, ge=0, le=1, description="how far one order's outcome moves the user-store bond (toward +1 "
                                      "for a delivered-on-time, kept, well-reviewed order, toward -1 for a "
                                      "bad one)")
    loyalty_update_days: float = Field(
        2.0, gt=0, description="sessions are simulated in chunks of at most this many days so the bonds "
                               "learn between them from the outcomes known by then")

    # the trust and offer attributes (training/simulator/offers.py, docs/offers.md)
    offer_rates: dict[str, float] = Field(
        {"free_shipping": 0.55, "freight_insurance": 0.3, "seven_day_returns": 0.5,
         "authentic_guarantee": 0.1, "pay_later": 0.25, "multi_item_discount": 0.2},
        description="base share of products offering each trust and offer attribute, before a big "
                    "brand, a reliable store, the category and the price pull it up or down")
    offer_effect: float = Field(
        1.0, ge=0, description="scales the behaviour model's trust and offer terms (free shipping, freight "
                               "insurance and 7-day returns for risk-averse shoppers, ...): 0 makes shoppers "
                               "ignore them; the oracle reads it back from truth/params.json")

    @field_validator("offer_rates")
    @classmethod
    def _every_offer_has_a_rate(cls, rates: dict[str, float]) -> dict[str, float]:
        missing = set(ATTRIBUTE_BADGES) - set(rates)
        wrong = {k for k, v in rates.items() if k not in ATTRIBUTE_BADGES or not 0 < v < 1}
        if missing or wrong:
            raise ValueError(f"offer_rates needs a share in (0, 1) for exactly {ATTRIBUTE_BADGES}; "
                             f"missing {sorted(missing)}, wrong {sorted(wrong)}")
        return rates

    def shape(self) -> ScaleShape:
        shape = SCALES[self.scale]
        return shape if self.sessions is None else shape.model_copy(update={"sessions": self.sessions})


class ScoreSettings(Section):
    """Platform scores (docs/scores.md)."""

    window_days: int = Field(90, ge=1, description="rolling window of events counted")
    half_life_days: float = Field(30.0, gt=0, description="recency weight halves every this many days")
    prior_strength: float = Field(
        20.0, ge=0, description="pseudo-events of the category prior in every shrunk rate"
    )
    on_time_ship_hours: float = Field(48.0, gt=0, description="shipping within this is on time")
    store_weights: dict[str, float] = Field(
        {"product_quality": 0.30, "logistics": 0.30, "service": 0.25, "stability": 0.15},
        description="weights of the store experience score's dimensions",
    )
    product_weights: dict[str, float] = Field(
        {
            "information": 0.10,
            "popularity": 0.20,
            "quality": 0.25,
            "service": 0.10,
            "brand": 0.10,
            "price": 0.25,
        },
        description="weights of the product score's dimensions",
    )
    price_advantage_clip: float = Field(0.5, gt=0, description="price advantage is clipped to +-this")
    demotion_ratio: float = Field(
        2.0, gt=1, description="quality-return rate this many times the category's flags demotion"
    )
    demotion_min_orders: int = Field(20, ge=1, description="orders needed before demotion applies")
    creator_weights: dict[str, float] = Field(
        {"content": 1 / 3, "product": 1 / 3, "service": 1 / 3},
        description="weights of the creator reputation score's (带货口碑分) three reputations")
    creator_prior_views: float = Field(
        2000.0, ge=0, description="pseudo-views of the mall's rates in a creator's shrunk engagement and "
                                  "report rates (content reputation); other creator rates use prior_strength")
    returning_customer_weights: dict[str, float] = Field(
        {"quality_value": 0.25, "service": 0.25, "content": 0.25, "repeat": 0.25},
        description="weights of the returning-customer index's four dimensions")


class RecallSettings(Section):
    """Candidate recall (search and homepage)."""

    exact_index_max_products: int = Field(100_000, description="above this, FAISS uses HNSW")
    dense_dim: int = Field(64, ge=8, description="dimension of the text embeddings")
    bm25_k1: float = Field(1.2, ge=0, description="BM25 term-frequency saturation of search recall "
                           "(baked into the index at shelfrank train; the bundle's manifest records it)")
    bm25_b: float = Field(0.75, ge=0, le=1, description="BM25 length normalisation of search recall "
                          "(baked into the index at shelfrank train)")
    rrf_k: int = Field(60, ge=1, description="k of reciprocal-rank fusion in the real-data evals: eval "
                       "home-depot's hybrid list, eval taobao's recall_rrf (the service fuses nothing: "
                       "its reranker orders the union of the sources)")
    candidates: int = Field(500, ge=1, description="candidates recalled per request")
    homepage_quotas: dict[str, int] = Field(
        {"recently_viewed": 40, "personal": 150, "similar": 80, "trending": 60, "top_categories": 100,
         "recent_categories": 60, "subsidy": 30, "theme": 60, "repurchase": 40, "new_stores": 30},
        description="candidates each homepage source may add per request",
    )
    homepage_source_weights: dict[str, float] = Field(
        {"recently_viewed": 2.0, "repurchase": 1.5, "personal": 1.0, "similar": 1.0, "top_categories": 1.0,
         "recent_categories": 1.0, "trending": 0.7, "theme": 0.7, "subsidy": 0.5, "new_stores": 0.5},
        description="weight of each source when the homepage candidates are merged into one ranked list",
    )
    spelling_correction: bool = Field(
        True, description="rewrite query words no product text holds to catalog words before search recall "
                          "(ranking/recall/spelling.py); a request can opt out with spell_correct=false")
    spelling_min_df: int = Field(2, ge=1, description="products a catalog word needs to be a correction")
    spelling_max_distance: int = Field(2, ge=0, le=2, description="largest edit distance corrected")
    spelling_min_length: int = Field(5, ge=2, description="shorter words are never corrected")
    pinyin_queries: bool = Field(
        True, description="read a-z query words no product text holds as pinyin of the catalog's Chinese "
                          "(\"shouji\" -> 手机) before spelling correction (ranking/recall/pinyin.py)")
    pinyin_min_length: int = Field(4, ge=2, description="letters a word needs to be read as pinyin")
    spelling_min_length_two_edits: int = Field(
        7, ge=3, description="words need this many letters before a correction two edits away")
    spelling_cache_queries: int = Field(
        4096, ge=0, description="distinct queries whose correction, and whose query words "
                              "(ranking/recall/query_words.py), are kept (LRU, per process); 0 = none")
    search_results_kept: int = Field(
        1024, ge=0, description="distinct queries (with their synonym rewrite) whose lexical recall, "
                                "query words and dense recall are kept per search index "
                                "(ranking/recall/query_words.py, search.py): a repeated query skips its "
                                "BM25 scoring and its vector scan; 0 = none")
    synonym_terms_kept: int = Field(
        512, ge=0, description="operator synonym terms (each held by at most 4,096 products) whose rows "
        "and scores are kept per search index, oldest out: a first-time query whose rewrite brings a "
        "term another query brought reads them kept (ranking/recall/query_words.py)")
    synonym_large_terms_mb: float = Field(
        64.0, ge=0, description="... larger terms' rows and scores kept per search index up to this many "
        "MB in all, oldest out (at 1M products ~8 terms of 100,000 products a MB)")
    synonym_words_kept: int = Field(
        4096, ge=0, description="query words with the synonym terms standing for them (their products "
        "holding the word or a term counted) kept per search index, oldest out: a first-time query whose "
        "word another query's rewrite gave the same terms reads it kept (ranking/recall/query_words.py)")
    synonym_matches_mb: float = Field(
        32.0, ge=0, description="... each synonym match's rows and what it adds there, kept per search "
        "index up to this many MB in all, oldest out")
    item_embedding_dim: int = Field(32, ge=4, description="co-interaction item embedding size")
    recent_items: int = Field(20, ge=1, description="recent items kept per user for personal recall")
    similar_lists: bool = Field(
        True, description="the bundle's build keeps every item's nearest items as the homepage's similar "
                          "source asks them (exact item index only; ~7 s of CPU and 11.7 MB at 50,000 "
                          "products, python -m bench.similar_lists BUNDLE): a shopper's first homepage "
                          "reads them instead of scanning "
                          "(ranking/recall/row_neighbours.py)")
    personal_lists_mb: float = Field(
        32.0, ge=0, description="MB of the shoppers' personal lists the bundle's build keeps, as their "
                                "fitted history gives them (exact item index only; strongest shoppers "
                                "first, the rest scanned; ~6 s of CPU and 12.0 MB at 20,000 shoppers, "
                                "python -m bench.personal_lists BUNDLE): a shopper with no live event "
                                "yet reads its list instead of scanning the item vectors "
                                "(ranking/recall/taste_lists.py); 0 = none")
    homepage_lists_ahead: bool = Field(
        True, description="compute a shopper's homepage lists (the personal scan among them) when their "
                          "clicks, carts or orders reach the live state, starting one only while the "
                          "worker has no request in flight, so their next homepage reads them kept "
                          "(ranking/live/homepage_ahead.py; embedded live state)")
    homepage_lists_ahead_pending: int = Field(
        4_096, ge=1, description="shoppers waiting for their lists at most (the oldest dropped: their "
                                 "page computes them)")
    # search honesty (ranking/recall/query_words.py, ranking/pipeline/filters/relevance_floor.py)
    subword_min_length: int = Field(
        4, ge=2, description="letters a query word no product text holds needs before it matches the catalog "
                             "words it is part of (\"phone\" -> \"smartphone\")")
    subword_max_expansions: int = Field(
        8, ge=0, description="catalog words (most frequent first) a query word part of them expands to; 0 = "
                             "no sub-word matching")
    subword_weight: float = Field(
        0.1, ge=0, le=1, description="share of a whole-word match's BM25 weight a sub-word match gets "
                                     "(on the Home Depot dev split 0.5 and 0.25 cost one query its "
                                     "recall@100, 0.1 none: docs/search_honesty.md)")
    relevance_floor: float = Field(
        0.9, ge=-1, le=1, description="dense similarity (cosine) a search candidate holding no query word "
                                      "needs to be ranked at all; below it the candidate is dropped "
                                      "(reason below_relevance_floor): chosen on the default mall, where "
                                      "queries the catalog lacks reach at most 0.89 and held ones 0.91+")


class TrainingSettings(Section):
    """Offline training of the ranker, funnel or LambdaRank (docs/ltr_evaluation.md)."""

    warmup_days: int = Field(7, ge=1, description="first days only build history, no training rows")
    snapshot_every_days: int = Field(
        7, ge=1, description="the unit of feature work: cards are featurised a cut of this many days at a "
                             "time (one Dask task, one LambdaRank chunk on a cluster)"
    )
    score_cadence_days: int = Field(
        1, ge=1, description="within a cut, each card reads the snapshot (scores, profiles, leaf price "
                             "medians) of the start of its own period of this many days: 1 = the daily "
                             "`shelfrank scores` the service runs; at most snapshot_every_days counts "
                             "(7 with snapshot_every_days=7: one snapshot a week, as before). Each "
                             "snapshot costs ~1.3 s on the default mall (docs/catalog.md)")
    point_in_time_scores: bool = Field(
        True, description="with a catalog change history (merge-events), each snapshot's scores, leaf price "
                          "medians and shopper profiles read the prices, stock and bans as of the snapshot, "
                          "not the merged (final) catalog (docs/catalog.md, Training: point in time); "
                          "off: the final catalog, as before")
    valid_days: int = Field(7, ge=1, description="days before the test days used for early stopping")
    test_days: int = Field(7, ge=1, description="last days held out for evaluate")
    history_days: int = Field(90, ge=1, description="user-profile window before each snapshot")
    live_features: bool = Field(
        True, description="replay the logs through the live state to compute the live features of every "
                          "training card (training/learning/live_replay.py); off: they stay missing")
    keep_requests_without_clicks: bool = Field(
        False, description="requests with no click carry no LambdaRank gradient; drop by default"
    )
    request_sample: float = Field(
        1.0, gt=0, le=1,
        description="featurise this share of logged requests (hashed request id, so train, valid and "
                    "test keep whole requests); 0.1 lets the large mall's ~90M cards fit one machine",
    )
    model: Literal["funnel", "lambdarank"] = Field(
        "funnel",
        description="funnel: a click stage x an order stage, one merged LightGBM model (oracle NDCG@10 "
                    "0.94 at default scale); lambdarank: LambdaRank on the graded labels (0.878). "
                    "Dask training is LambdaRank (docs/ltr_evaluation.md)",
    )
    position_debias: bool = Field(
        True, description="lambdarank: LightGBM position-aware LambdaRank; funnel: the click stage's "
                          "offset log examination(slot) from the randomised blocks")
    validate_on_randomised: bool = Field(
        True, description="early-stop on the logged randomised slots only (unbiased by position)"
    )
    label_gain: list[float] = Field(
        [0.0, 1.0, 15.0, 127.0],
        description="gain of grades 0-3 (skip, click, cart, order); steep so orders dominate: oracle "
                    "NDCG@10 0.848 with [0,1,3,7], 0.877 with this (docs/ltr_evaluation.md)",
    )
    num_leaves: int = Field(63, ge=2)
    learning_rate: float = Field(0.05, gt=0)
    min_data_in_leaf: int = Field(50, ge=1)
    feature_fraction: float = Field(0.9, gt=0, le=1)
    num_boost_round: int = Field(300, ge=1)
    early_stopping_rounds: int = Field(30, ge=1)
    lambdarank_truncation_level: int = Field(20, ge=1)
    funnel_negative_share: float = Field(
        0.3, gt=0, le=1, description="funnel click stage: share of unclicked cards it reads (re-weighted)")
    funnel: FunnelTreeSettings = FunnelTreeSettings()
    num_threads: int = Field(2, ge=1, description="threads for training (serving uses one)")
    compile_scorer: bool = Field(True, description="compile the trees with lleaves into the bundle")
    dask_scheduler: str = Field("", description="train on this Dask cluster (address); empty = locally")
    seed: int = Field(7, ge=0)


class RulesSettings(Section):
    """Business rules applied after scoring (docs/serving.md); visible in ``explain``."""

    drop_out_of_stock: bool = Field(True, description="remove products with no stock")
    drop_banned: bool = Field(True, description="remove banned products (governance)")
    demotion_penalty: float = Field(
        1.0, ge=0, description="demoted products/stores lose this many score standard deviations"
    )
    theme_boost: float = Field(
        0.25, ge=0, description="time-slot theme products gain this many score standard deviations"
    )
    value_weight: float = Field(
        0.1, ge=0, le=2,
        description="funnel bundles: add this x log(price / median candidate price) to the raw score (1 "
                    "ranks by expected order value, 0 by purchase probability); 0.1 keeps homepage orders "
                    "level with LambdaRank's and raises GMV 22% (docs/experiments.md). No-op on LambdaRank")
    store_diversity_max: int = Field(2, ge=1, description="at most this many cards of one store ...")
    store_diversity_window: int = Field(6, ge=1, description="... in any this many consecutive slots")
    exploration_slots: list[int] = Field(
        [8], description="homepage positions (1-based) given to a random new-store product"
    )
    exploration_pool: int = Field(10, ge=1, description="best new-store candidates drawn from")
    # the traffic policy: what a product grade and a store experience score earn or lose, after
    # the model (docs/scores.md "Traffic policy", generated from these fields and their defaults)
    traffic_policy: bool = Field(
        True, description="apply the traffic policy below; off, pages are as without it (the grade "
                          "and store score stay model features)")
    traffic_slot_grades: list[Literal["A", "B", "C", "D"]] = Field(
        ["A", "B"], description="product grades eligible for the big-brand subsidy slots and the "
                                "time-slot campaign (theme) boost")
    traffic_slot_min_store_score: float = Field(
        40.0, ge=0, le=100, description="store experience score a product's store needs for the "
                                        "subsidy slots and the campaign boost")
    traffic_fold: int = Field(
        6, ge=0, description="grade D products are never placed in the first this many positions of "
                             "a page while a product of another grade is left (0: no floor)")
    traffic_store_boost_min: float = Field(
        75.0, ge=0, le=100, description="stores with an experience score at or above this gain "
                                        "traffic_store_boost")
    traffic_store_boost: float = Field(
        0.1, ge=0, description="score standard deviations the products of a store at or above "
                               "traffic_store_boost_min gain; 0.1 raises those stores' share of the "
                               "first 6 homepage slots by a quarter for 1% of orders on the small mall, "
                               "0.2 by half for 1.6% (docs/scores.md)")
    traffic_store_penalty_below: float = Field(
        25.0, ge=0, le=100, description="stores with an experience score below this lose "
                                        "traffic_store_penalty")
    traffic_store_penalty: float = Field(
        0.1, ge=0, description="score standard deviations the products of a store below "
                               "traffic_store_penalty_below lose")
    # shelf spread (ranking/pipeline/selectors/shelf_spread.py, docs/serving.md "Shelf spread"): per
    # surface, after the model; a cap of 0 turns that spread off on that surface
    spread_window: dict[Surface, Annotated[int, Field(ge=1)]] = Field(
        {"homepage": 10, "channel": 10, "search": 10},
        description="per surface: the category and brand caps hold in any this many consecutive slots")
    spread_category_max: dict[Surface, Annotated[int, Field(ge=0)]] = Field(
        {"homepage": 0, "channel": 0, "search": 0},
        description="per surface: at most this many cards of one leaf category in any spread_window "
                    "slots (0: no cap). Off by default: on the simulated homepage 3 in 10 cost a tenth of "
                    "the first page's orders and a fifth of its GMV, where spread_min_categories gives "
                    "every page 4 leaves for 0.3% of orders (docs/serving.md \"Shelf spread\")")
    spread_min_categories: dict[Surface, Annotated[int, Field(ge=0)]] = Field(
        {"homepage": 4, "channel": 4, "search": 0},
        description="per surface: a page shows at least this many leaf categories when its candidates "
                    "hold them (0 or 1: off): the best candidate of a missing leaf takes the lowest slot "
                    "of a repeated one (min-groups, docs/serving.md \"Shelf spread\"; -0.3% of simulated "
                    "homepage orders for 4). Search keeps its query's category: off")
    spread_brand_max: dict[Surface, Annotated[int, Field(ge=0)]] = Field(
        {"homepage": 2, "channel": 2, "search": 3},
        description="per surface: at most this many cards of one brand in any spread_window slots (0: no "
                    "cap); 2 in 10 costs nothing measurable on the simulated homepage")
    subsidy_share_max: dict[Surface, Annotated[float, Field(ge=0, le=1)]] = Field(
        {"homepage": 0.5, "channel": 0.5, "search": 1.0},
        description="per surface: at most this share of a page's cards in the big-brand subsidy channel "
                    "(requested subsidy slots count; 1: no cap), so the subsidy badge means something: "
                    "95% of homepage cards carried it. On the simulated homepage 0.5 costs 4% of orders "
                    "and gains clicks, 0.3 a tenth of orders, 0.2 a seventh (docs/serving.md \"Shelf "
                    "spread\"); search leaves it to the query (1)")


class ServingSettings(Section):
    """The ranking service (``shelfrank serve``)."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1, description="uvicorn worker processes")
    bundle: str = Field("models/latest", description="bundle served at start")
    admin_token: Secret = Field(SecretStr(""), description="bearer token for /admin/*; empty disables "
                                "admin. A secret: masked in every dump (bundle manifest, `shelfrank "
                                "settings`, /v1/bundle). When set (or any client token is), every write "
                                "endpoint needs a bearer credential and /metrics and /readyz's details "
                                "need this token (docs/security.md)")
    client_tokens: dict[str, Secret] = Field(
        {}, description="write credentials of the clients (one per frontend at least): name -> bearer "
                        "token, e.g. SHELFRANK_SERVING__CLIENT_TOKENS='{\"web\": \"...\"}'. The name is "
                        "recorded with every event batch and in the access log, never the token. With "
                        "no client token and no admin_token, writes are open (the demo) and the service "
                        "says so. Secrets: masked in every dump")
    merchant_tokens: dict[Annotated[int, Field(ge=0)], Secret] = Field(
        {}, description="a store's own bearer token, by store id, e.g. SHELFRANK_SERVING__MERCHANT_TOKENS="
                        "'{\"17\": \"...\"}': it may upsert its own store's products (PUT "
                        "/v1/catalog/products) and store row (PUT /v1/catalog/stores) and read its own "
                        "traffic report, nothing else (no bans, events or admin). The event log records "
                        "its changes as merchant:<store id> (docs/security.md)")
    write_rate_per_second: float = Field(
        1_000.0, ge=0, description="events (rows) per second one client may post, per worker (a token "
                                   "bucket; with N workers a client gets up to N times this); 0 = no limit")
    write_burst: int = Field(
        10_000, ge=1, description="events one client may post at once before the rate applies (the "
                                  "bucket's size; at least max_events_per_post, so a full batch can pass)")
    login_failures: int = Field(
        5, ge=1, description="wrong bearer tokens (admin or client) one remote address may send before "
                             "it is locked out")
    login_lockout_seconds: float = Field(
        60.0, gt=0, description="how long a locked-out address gets 429 with Retry-After; the count of "
                                "its failures is forgotten after this long without one")
    access_log: bool = Field(
        True, description="one JSON line per request on the `shelfrank.access` logger (time, method, "
                          "path template, status, latency, client name or anonymous, remote address; "
                          "never a token or a body)")
    events_dir: str = Field("data/events", description="durable event log (read by training)")
    default_page_size: int = Field(20, ge=1, description="cards of a search or homepage request "
                                   "that names no page_size")
    max_page_size: int = Field(100, ge=1, description="most cards one request may ask for")
    max_rerank_candidates: int = Field(1000, ge=1)
    max_query_chars: int = Field(200, ge=1)
    search_threads: int = Field(
        1, ge=1, description="FAISS threads per query on the request path (two made single-query "
                             "search slower on 2 cores: ../shared/docs/performance.md)")
    max_body_bytes: int = Field(1_000_000, ge=1_024)
    max_events_per_post: int = Field(5_000, ge=1)
    similar_k: int = Field(20, ge=1, le=200, description="default size of /similar")
    cors_origins: list[str] = Field([], description="allowed CORS origins; empty = closed")
    reload_poll_seconds: float = Field(1.0, gt=0, description="how often workers follow a reload")
    malloc_mmap_threshold_kb: int = Field(
        128, ge=0, le=32768, description="glibc only: blocks at least this big get their own mmap, "
        "returned to the system when freed, so a reload's old bundle does not stay mapped "
        "(serving/allocator.py; 0 leaves the allocator's dynamic threshold)")
    malloc_arenas: int = Field(2, ge=0, le=64, description="glibc only: malloc arenas per worker "
                               "(fewer arenas, less memory kept in holes; 0 leaves glibc's default)")
    experiment: str = Field("none", description="experiment name on responses outside experiments")
    variant: str = Field("default", description="variant name on responses outside experiments")
    experiments_file: str = Field("", description="experiments config (TOML or JSON); empty = none")
    log_exposures: bool = Field(True, description="log every served card to <events_dir>/exposures")
    exposure_flush_seconds: float = Field(0.5, gt=0, description="exposures are written this often")
    events_min_free_mb: float = Field(
        64.0, ge=0, description="the event log refuses writes (503) when a write would leave less than "
                                "this much free space on its file system, before the disk is full; 0 = off")
    event_past_days: float = Field(
        365.0, gt=0, description="POST /v1/events refuses an event dated more than this before the "
                                 "server's clock (a unit mistake or a replayed log, not a live event)")
    event_future_seconds: float = Field(
        300.0, ge=0, description="...or more than this after it (clocks of phones and servers differ "
                                 "by seconds, not the hours a forged or broken clock gives)")
    max_price_paid: float = Field(1_000_000.0, gt=0, description="largest unit price an order line may "
                                  "report, yuan (1e300 would swamp every price and GMV figure)")
    max_order_quantity: int = Field(999, ge=1, le=32767, description="most units one order line may report")
    max_in_flight: int = Field(
        8, ge=1, description="backpressure: requests one worker works on at once; others queue (health, "
                              "readiness and metrics are never queued)")
    page_threads: int = Field(
        1, ge=1, description="pages (search, homepage, rerank) one worker ranks at once, on its page "
                             "threads (at most max_in_flight); admitted pages beyond them wait in "
                             "arrival order. Pages are CPU on one interpreter lock: ranked one at a time "
                             "a page waits for the ones ahead of it instead of sharing the lock with "
                             "seven, so a slow page no longer slows every page beside it "
                             "(docs/serving.md, \"Pages ranked one at a time\")")
    queue_timeout_seconds: float = Field(
        0.25, ge=0, description="backpressure: how long a request may wait for one of the max_in_flight "
                                "slots before it is shed with 503 and Retry-After (bounds admitted latency)")
    retry_after_seconds: int = Field(1, ge=0, description="Retry-After sent with a shed request's 503")
    max_connections: int = Field(
        1024, ge=1, description="per worker: open connections plus running requests beyond which uvicorn "
                                "answers 503 (its limit_concurrency)")
    backlog: int = Field(2048, ge=1, description="listen backlog of the server socket")
    connection_balance: bool = Field(
        True, description="with several workers: a worker holding more than its share of the open "
                          "connections (each worker's count in a small file of a shared folder) answers "
                          "one request per connection above its share with `Connection: close` "
                          "(compared every connection_balance_seconds), and the client's new connection "
                          "lands on any worker. A client pool opened in one burst (a frontend's, wrk's "
                          "16) otherwise often lands unevenly: the busier worker queues its pages, and "
                          "one holding them all leaves the other idle (docs/serving.md, \"Connections "
                          "spread over the workers\")")
    connection_balance_seconds: float = Field(
        0.1, gt=0, description="how often a worker compares its open connections with the other "
                               "workers' (and closes at most one after its response)")
    connection_balance_slack: int = Field(
        1, ge=0, description="connections a worker may hold above an even share before it closes one "
                             "(or connection_balance_tolerance of the even share, if more)")
    connection_balance_tolerance: float = Field(
        0.1, ge=0, description="share of an even share a worker may hold above it before it closes one "
                               "(with many connections the counts move by chance: no closing for that)")
    max_header_bytes: int = Field(
        16_384, ge=1_024, description="largest request line plus headers a connection may send; past it "
                                      "the connection gets 431 and is closed before more is buffered")
    header_timeout_seconds: float = Field(
        10.0, gt=0, description="a request's line and headers must arrive within this of its first byte "
                                "(or of the connection opening), else the connection is closed (slowloris)")
    body_timeout_seconds: float = Field(
        10.0, gt=0, description="each read of a request body must arrive within this, else 408 and the "
                                "connection is closed (a stalled body no longer holds a worker or shutdown)")
    keep_alive_seconds: int = Field(5, ge=1, description="an idle keep-alive connection is closed after this")
    drain_seconds: float = Field(
        1.0, ge=0, description="on SIGTERM /readyz answers 503 for this long while requests are still "
                               "served, so the load balancer stops sending before the server drains")
    graceful_shutdown_seconds: float = Field(
        20.0, gt=0, description="after draining, requests still running this long are cut and the worker "
                                "exits (uvicorn's timeout_graceful_shutdown)")

    @model_validator(mode="after")
    def _default_page_fits(self) -> ServingSettings:
        if self.default_page_size > self.max_page_size:
            raise ValueError(f"default_page_size {self.default_page_size} is above max_page_size "
                             f"{self.max_page_size}: a request naming no page_size would be refused")
        return self

    @model_validator(mode="after")
    def _clients_are_distinct(self) -> ServingSettings:
        tokens = [t.get_secret_value() for t in self.client_tokens.values()]
        for name, token in zip(self.client_tokens, tokens, strict=True):
            if not CLIENT_NAME.fullmatch(name) or name in RESERVED_CLIENTS:
                raise ValueError(f"client name {name!r}: letters, digits, '.', '_' or '-' (at most 64), "
                                 f"not {' or '.join(sorted(RESERVED_CLIENTS))}")
            if not token:
                raise ValueError(f"client {name!r} has an empty token")
        for store, token in self.merchant_tokens.items():
            if not token.get_secret_value():
                raise ValueError(f"merchant {store} has an empty token")
        tokens += [t.get_secret_value() for t in self.merchant_tokens.values()]
        admin = self.admin_token.get_secret_value()
        if len(set(tokens)) < len(tokens) or (admin and admin in tokens):
            raise ValueError("every client and merchant token must differ from the others and from "
                             "admin_token (a token names exactly one caller)")
        if self.write_rate_per_second and self.write_burst < self.max_events_per_post:
            raise ValueError(f"write_burst {self.write_burst} is below max_events_per_post "
                             f"{self.max_events_per_post}: a full batch could never be accepted")
        return self


class CounterfactualSettings(Section):
    """Off-policy estimates of a bundle's homepage from the mall's logs (docs/experiments.md)."""

    contexts: int = Field(
        4000, ge=10, description="logged homepage requests of the test days whose pages each bundle "
                                 "replays (user, hour); the DR correction uses their randomised blocks")
    page_size: int = Field(20, ge=1, description="cards per replayed page (the closed loop's page)")
    reward_days: int = Field(
        14, ge=1, description="logged days before the test days the reward model learns from")
    reward_request_sample: float = Field(
        0.6, gt=0, le=1, description="share of those days' homepage requests the reward model reads")
    reward_models: int = Field(
        3, ge=1, description="reward models, each fitted on a disjoint shard of those requests: the "
                             "estimate uses their mean, their spread is reported as the model's error")
    reward: RewardTreeSettings = RewardTreeSettings()
    max_weight: float = Field(
        0.0, ge=0, description="clip IPS weights of the DR correction at this value; 0 = no clipping")
    per_user: bool = Field(
        True, description="weight contexts so every user counts once (the closed loop draws users "
                          "uniformly; the logs draw them by activity)")
    seed: int = Field(7, ge=0)


class RealDataSettings(Section):
    """``shelfrank eval``: evaluation on the shared real datasets (docs/real_data.md)."""

    test_fraction: float = Field(0.2, gt=0, lt=1, description="share of queries held out by `eval split-*`")
    seed: int = Field(7, ge=0)
    home_depot_relevant: float = Field(2.5, description="relevance (1-3) from which a product is relevant")
    home_depot_dense_dim: int = Field(256, ge=8, description="text embedding size for the Home Depot catalog")
    home_depot_ltr_rounds: int = Field(400, ge=1, description="boosting rounds of the Home Depot reranker")
    home_depot_sentence: bool = Field(
        False,
        description="add all-MiniLM-L6-v2 sentence-embedding features to the Home Depot reranker (needs the "
                    "`semantic` extra; several minutes of CPU to embed the catalog)")
    taobao_item_embedding_dim: int = Field(64, ge=4, description="co-interaction embedding size for Taobao")
    taobao_recent_items: int = Field(100, ge=1, description="strongest recent items kept per Taobao user "
                                     "(the recently viewed, personal and similar sources read them)")
    taobao_half_life_days: float = Field(1.0, gt=0, description="recency half-life of Taobao interactions")
    taobao_discovery_source: str = Field(
        "recent_categories",
        description="recall source whose order fills the Taobao ranker's slots for items new to the user "
                    "(empty: the ranker's own order)")
    taobao_ranker_days: int = Field(
        3, ge=1, description="last train days the Taobao reranker learns from (each day's recall fitted on "
                             "the days before it)")


class LiveSettings(Section):
    """The live state: what shoppers did seconds ago, kept bounded (ranking/live/, docs/live.md).
    Every cap and window here bounds memory; the durable event log keeps everything."""

    recent_interactions: int = Field(50, ge=1, le=1000, description="clicks, carts and orders kept per "
                                     "shopper (a ring: the oldest goes first)")
    recent_queries: int = Field(8, ge=1, le=100, description="search queries kept per shopper")
    bought_items: int = Field(12, ge=1, le=1000, description="paid items kept per shopper")
    ignored_items: int = Field(12, ge=1, le=1000, description="cards shown without a click kept per "
                               "shopper (the least recently shown goes first)")
    ignore_after_impressions: int = Field(3, ge=1, description="a card shown this many times without "
                                          "a click within ignore_window_hours stops coming back")
    ignore_window_hours: float = Field(24.0, gt=0, description="impressions without a click older than "
                                       "this are forgotten")
    session_ttl_hours: float = Field(24.0, gt=0, description="an anonymous session idle this long is "
                                     "forgotten (its events stay in the log)")
    hour_bucket_minutes: int = Field(10, ge=1, le=60, description="bucket of the last-hour counters "
                                     "(60 / this buckets per product and store)")
    day_bucket_minutes: int = Field(60, ge=5, le=1440, description="bucket of the last-day counters")
    ctr_prior_impressions: float = Field(50.0, ge=0, description="impressions of the mall-wide CTR "
                                         "added to a product's own before its live CTR is computed")
    trend_prior: float = Field(1.0, gt=0, description="interactions added to both sides of the trend "
                               "(last hour vs the last day's hourly mean), so one click is no trend")
    covisit_neighbours: int = Field(20, ge=1, le=200, description="co-visited items kept per item "
                                    "(the weakest goes when a stronger one comes)")
    covisit_lookback: int = Field(5, ge=1, description="each interaction pairs with the shopper's "
                                  "previous this many")
    covisit_window_minutes: float = Field(60.0, gt=0, description="...when they came at most this long "
                                          "before it")
    covisit_half_life_hours: float = Field(72.0, gt=0, description="co-visitation weights halve every "
                                           "this many hours")
    covisit_backward_weight: float = Field(0.5, ge=0, description="weight of 'b then a' in a's "
                                           "neighbours relative to 'a then b' (1: symmetric)")
    recall_seeds: int = Field(5, ge=1, description="last distinct items whose co-visited neighbours "
                              "live recall lists")
    recall_source_weights: dict[str, float] = Field(
        {"recent": 1.0, "covisit": 0.5, "frozen": 0.2, "popular": 0.05},
        description="weight of each live recall list in its reciprocal-rank fusion "
                    "(ranking/live/recall.py)")
    recall_recency_decay: float = Field(
        0.97, gt=0, le=1, description="live recall orders the shopper's own items by the sum over their "
                                      "interactions of this ** (interactions since), ...")
    recall_leaf_boost: float = Field(3.0, ge=1, description="... times this for items of the leaf the "
                                     "shopper is in now (that of their last interaction)")
    recall_skip_current: bool = Field(
        True, description="live recall leaves out the item the shopper interacted with last (the one "
                          "they are on; its neighbours still count)")
    recall_rrf_k: int = Field(10, ge=1, description="k of that fusion (small: the top of each list counts)")
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0", description="the Redis live-state backend's server "
        "(ranking/live/redis_state.py; docs/operations.md says how to install and start one)")
    redis_prefix: str = Field(
        "shelfrank:", min_length=1, description="every Redis key of the live state starts with this, so "
        "several malls (or a test) share one server without seeing each other's keys")
    redis_applied_stream_max_len: int = Field(
        100, ge=1, description="redis backend: the stream naming the shoppers and products each applier "
        "poll changed (every worker computes those shoppers' homepage lists ahead and drops those products' "
        "kept counters) is trimmed to about this many polls (ranking/live/applied_feed.py)")
    redis_applied_products_max: int = Field(
        20_000, ge=1, description="redis backend: a poll naming more products (a replay of the whole log) "
        "names none and says every product changed instead")
    redis_signals_max_age_ms: int = Field(
        1_000, ge=0, description="redis backend: each worker keeps the live counters its pages read "
        "(products' window sums, the mall's, the state's clock) until an applier names them changed, "
        "and never longer than this (the bound when a stream entry is lost); 0: every page asks Redis "
        "(ranking/live/signals_cache.py)")
    redis_signals_max_products: int = Field(
        100_000, ge=1, description="redis backend: products a worker keeps the live counters of, per window "
        "(then it starts over): ~175 bytes each, plus 4 bytes for each id up to about twice the largest "
        "while ids are below 2,097,152 (ranking/live/signals_cache.py)")
    redis_timeout_seconds: float = Field(
        0.5, gt=0, description="a Redis call (one pipeline read or write) that takes longer fails with "
        "LiveBackendError, and the service ranks from the bundle's frozen state: short, so a stalled "
        "server costs a request this much at most")
    redis_connect_timeout_seconds: float = Field(
        0.2, gt=0, description="connecting to Redis fails with LiveBackendError after this long (an "
        "unreachable server is not retried inside a request)")
    redis_retry_ms: int = Field(
        1000, ge=0, le=600_000, description="after a Redis read fails, a worker's ranking requests do not "
        "ask Redis for this long (they get the bundle's frozen state at once), so a dead or stalled server "
        "does not cost every request the timeout; the first request after it tries again")
    redis_pool_size: int = Field(16, ge=1, description="Redis connections one process keeps at most "
                                 "(one per concurrent request using the live state)")
    redis_shopper_ttl_hours: float = Field(
        720.0, gt=0, description="a signed-in shopper's Redis keys (history, queries, bought, ignored "
        "cards) and each product's co-visitation expire this long after their last write: Redis memory "
        "stays bounded by the active shoppers and products; the durable event log keeps everything")
    backend: Literal["embedded", "redis", "off"] = Field(
        "embedded", description="where the service keeps the live state (ranking/live/backend.py): "
                                "'embedded' (each worker replays and tails the event log at "
                                "serving.events_dir; one host, no server), 'redis' (several hosts), "
                                "'off' (pages from the bundle's frozen state only)")
    poll_ms: int = Field(100, ge=5, le=5000, description="each worker (embedded backend), or the host's "
                         "one applier (redis backend: ranking/live/redis_backend.py), reads the lines "
                         "appended to every writer's event log files this often (an event acknowledged "
                         "by any worker is visible to all within about this)")
    headroom_share: float = Field(
        0.75, gt=0, le=1, description="the embedded backend's tail grows the live state's per-row arrays "
        "(counters, co-visitation, shopper history) outside its lock once the rows in use plus a poll's "
        "new ones pass this share of their room, so no page waits for their copy (ranking/live/"
        "headroom.py); 1: only when a poll needs the room")
    apply_pause_ratio: float = Field(
        3.0, ge=0, description="the live state's background applier (embedded: each worker's tail; "
        "redis: the host's applier) sleeps this many times the CPU it spent since its last pause "
        "between a poll's steps, so a page waiting for the interpreter lock is not held up by a "
        "whole burst (ranking/live/pacer.py)")
    apply_pause_min_ms: float = Field(
        0.2, ge=0, description="... at least this long a pause (a shorter sleep returns before a "
        "thread waiting for the interpreter lock has woken and taken it)")
    apply_pause_budget_ms: float = Field(
        50.0, ge=0, description="... and at most this long in all a poll (a backlog is applied at full "
        "speed past it; 0 turns the pauses off)")
    intent_boost: float = Field(1.0, ge=0, description="session intent: a candidate of a leaf holding "
                                "share s of the shopper's interactions of the last intent_window_minutes "
                                "moves up s x this score deviations (ranking/pipeline/adjusters/"
                                "session_intent.py); 0 turns it off")
    intent_window_minutes: float = Field(30.0, gt=0, description="...the minutes that count as the "
                                         "shopper's current intent")
    exclude_surfaces: list[Literal["search", "homepage", "channel"]] = Field(
        ["search", "homepage", "channel"], description="surfaces whose pages leave out the shopper's "
        "bought non-consumables and cards ignored ignore_after_impressions times "
        "(ranking/pipeline/filters/live_history.py; rerank follows its request's surface)")
    feature_half_life_minutes: float = Field(
        30.0, gt=0, description="live feature recent_item_interest: a shopper's interaction with the "
                                "candidate counts half as much every this many minutes "
                                "(ranking/live/features.py)")
    log_feature_share: float = Field(
        0.0, ge=0, le=1, description="share of served pages (hashed request id) whose exposure line "
                                     "also logs the cards' live feature values as served, so training's "
                                     "replay can be checked against real traffic; 0: none")
    feature_kind_weights: list[float] = Field(
        [1.0, 2.0, 4.0], min_length=3, max_length=3,
        description="...and counts this much for a click, a cart, an order")
    new_products_switch_interval_ms: float = Field(
        0.5, ge=0, description="while ranking.live.new_products adds a batch (seconds of Python "
                               "work), the interpreter's thread switch interval, so request threads "
                               "are not queued behind it for the default 5 ms each time they wait for "
                               "the GIL (docs/catalog.md, 'New products': p99 of search during "
                               "10,000 adds built in process, before the worker, median of four "
                               "runs, 167 ms against 210 at 5 ms); 0: leave it as it is")
    new_products_worker: bool = Field(
        True, description="ranking.live.new_products builds a batch's words and dense vectors (tokenising, "
                          "the encoder's n-gram hashing) in a process of its own "
                          "(ranking/live/new_product_worker.py, started at the first add), not on the "
                          "request threads' interpreter; false: in process. A worker that cannot start, "
                          "dies or does not answer falls back to in process for that batch (logged)")
    new_products_worker_min_batch: int = Field(
        100, ge=1, description="... batches of fewer new products are built in process: a few products cost "
                               "milliseconds there, while the worker's first start costs ~3.5 s (inside "
                               "the first batch it builds) and ~280 MB (a scratch reading); an operator's or "
                               "merchant's small upserts stay visible within the second, bulk imports go to "
                               "the worker")
    new_products_worker_nice: int = Field(
        0, ge=0, le=19, description="... the worker process's niceness (added to the service's), so the "
                                    "request threads get the cores first; 0: none (10 measured no lower "
                                    "search p99 on the loaded 2-core machine and made 10,000 adds take "
                                    "41-54 s, not 22-26: docs/catalog.md, 'Speed')")
    new_products_worker_timeout_seconds: float = Field(
        60.0, gt=0, description="... a batch the worker has not answered within this long is built in "
                                "process instead, and the worker is stopped (a new one starts next batch)")


class ConsistencySettings(Section):
    """Cross-table consistency of a dataset (``shelfrank validate``, ``merge-events``;
    ranking/contracts/consistency.py, docs/data.md)."""

    enabled: bool = Field(
        True, description="validate runs the cross-table rules after the contracts (--no-consistency skips)")
    clock_tolerance_seconds: float = Field(
        60.0, ge=0, description="an event may be dated this much before what it follows (its card, its "
                                "order, the listing, the signup) before it counts as before it: clocks of "
                                "the app, the service and the order system differ a little")
    max_unmatched_share: float = Field(
        0.01, ge=0, le=1, description="clicks, carts or attributed orders without the card they name, and "
                                      "returns or reviews dated before their delivery, are a warning up to "
                                      "this share of their table (exposure logging loses its last flush on "
                                      "a crash; a delivery scan comes late), an error above it (logging was "
                                      "off or broken; after-sale clocks are shifted)")
    min_unmatched_rows: int = Field(
        20, ge=1, description="...and only once at least this many rows break the rule: one "
                              "click in a merge of three is a lost flush or a stray request id, not "
                              "logging turned off (it stays a warning, printed with its share)")
    examples: int = Field(5, ge=1, description="example keys shown per broken rule")
    burst_events_per_second: int = Field(
        1_000, ge=1, description="merge-events warns of a client that sent more events than this within "
                                 "one second (by the service's receipt time; clients without an "
                                 "identity count as one)")
    funnel_seconds: float = Field(
        10.0, gt=0, description="an impression -> click -> cart -> order of one card completed within "
                                "this is faster than shoppers are ...")
    funnel_min_users: int = Field(
        20, ge=2, description="...and merge-events warns of a product for which at least this many "
                              "distinct shoppers did so: a fabricated funnel inflating its labels and scores")
    progress_after_seconds: float = Field(
        3.0, ge=0, description="validate shows a progress bar once it has taken this long")


class PathSettings(Section):
    """Where things live."""

    data_dir: str = Field("data/mall", description="simulated mall written by make demo")
    models_dir: str = Field("models", description="bundles and the latest pointer")
    shared_datasets: str = Field("../shared/datasets", description="real public datasets")


class BenchSettings(Section):
    """``make bench``: which scales to measure and where to keep its scratch data."""

    scales: list[Scale] = Field(["small", "default"], description="add 'large' for the 1M run")
    out_dir: str = Field("bench/out", description="simulated malls and scratch files")
    results: str = Field("bench/results.json", description="where the results are written")


class CatalogSettings(Section):
    """The live catalog: product upserts, bans and stores changed through the API or
    ``shelfrank catalog apply``, logged durably and overlaid on every worker's engine
    (ranking/catalog_changes.py, ranking/live/catalog_*.py, docs/catalog.md)."""

    max_rows_per_request: int = Field(
        10_000, ge=1, description="product or store rows one PUT /v1/catalog/... may carry (413 above); "
                                  "the CLI sends bigger files in chunks of this many")
    max_ban_ids: int = Field(
        100_000, ge=1, description="product_ids plus store_ids one POST /v1/catalog/bans may name "
                                   "(413 above)")
    new_product_hook: str = Field(
        "ranking.live.new_products:add_products",
        description="'module:function' called as function(engine, rows) -> int with the contract rows of "
                    "products the served bundle does not know, so they can be added to its indexes; when it "
                    "cannot be imported the rows are kept and their bans, stock and prices apply once "
                    "the product exists")
    redis_stream_max_len: int = Field(
        0, ge=0, description="redis backend: the catalog change stream every worker reads is trimmed "
                             "to about this many batches (0: never; a worker starting reads it whole, so "
                             "trimming loses older changes for new workers of other hosts)")


class MerchandisingSettings(Section):
    """Operator rules and synonyms (ranking/merchandising/, docs/merchandising.md)."""

    # RULES
    max_rules_per_request: int = Field(
        50, ge=1, description="at most this many rules in force are applied to one request: the highest "
                              "priority, then the most specific, then the newest; the rest are skipped")
    max_pins_per_page: int = Field(
        10, ge=0, description="at most this many pinned positions on one page (the first rules' pins, in "
                              "the conflict order); further pins are not placed and the page says so")
    # SYN
    synonym_weight: float = Field(
        0.5, gt=0, le=1, description="share of its own BM25 weight an operator's synonym term scores for "
                                     "a product holding it, as an alternative of the query words it "
                                     "stands for: a title holding both gets the larger, not the sum "
                                     "(ranking/recall/query_words.py, docs/merchandising.md)")
    synonym_terms_held_mb: float = Field(
        64.0, ge=0, description="each search index holds the rows and scores of every term the book in "
        "force can add, computed once per book (or index) change by the merchandising follower's thread, "
        "up to this many MB; a bigger book's other terms are computed per query as before; 0: none held "
        "(ranking/recall/held_terms.py; bench.merch_synonyms' 27,880 terms at 50,000 products count 11.4 MB, "
        "4.5 MB of it arrays)")
    synonym_terms_slice_ms: float = Field(
        0.2, gt=0, description="the follower computes the book's terms this long at a time, then sleeps "
        "as long (releasing the interpreter lock to the pages, which wait for it up to about a slice each "
        "time they let it go)")
    mine_min_relevance: float = Field(
        2.5, description="shelfrank synonyms mine: a query-log row with a relevance column counts as the "
                         "query leading to the product from this relevance (a clicks column: one click)")
    mine_min_support: int = Field(
        3, ge=1, description="shelfrank synonyms mine: distinct products a (query word, title word) pair "
                             "needs before it is proposed")
    mine_min_confidence: float = Field(
        0.2, gt=0, le=1, description="shelfrank synonyms mine: share of the products a query word leads "
                                     "to (without their titles holding it) on which the pair is seen")
    mine_max_spelling_similarity: float = Field(
        0.75, gt=0, le=1, description="shelfrank synonyms mine: a pair whose spellings are at least this "
                                     "alike (difflib ratio) is a typo for spelling correction, not a "
                                     "synonym (\"vanitie\"/\"vanity\" 0.77)")
    mine_max_targets: int = Field(
        3, ge=1, le=49, description="shelfrank synonyms mine: title words proposed per query word (one "
                                    "one-way set each query word, strongest first)")

    # STORE
    max_rules: int = Field(
        5_000, ge=1, description="rules the book may hold at once; a create or an import past it is a 413 "
                                 "naming the limit, and nothing is written")
    max_synonym_sets: int = Field(
        50_000, ge=1, description="synonym sets the book may hold at once (413 past it)")
    max_synonym_terms: int = Field(
        500_000, ge=1, description="terms over every synonym set together (413 past it)")
    max_item_bytes: int = Field(
        16_384, ge=256, description="bytes of one rule's or synonym set's JSON as stored (413 above)")
    max_import_bytes: int = Field(
        32_000_000, ge=1_024, description="body of POST /v1/merchandising/import (413 above): the one "
                                          "route allowed past serving.max_body_bytes, so a whole book "
                                          "of 10,000s of synonyms imports in one validated request")

# the mall's share of a day's traffic per local hour (0-23): the simulator's session hours
MALL_HOURLY_TRAFFIC = (2.0, 1.0, 0.6, 0.4, 0.4, 0.6, 1.5, 3.0, 4.5, 5.0, 5.0, 5.0, 5.5, 4.5, 4.0, 4.0, 4.5,
                       5.0, 5.5, 6.5, 7.5, 8.0, 6.5, 4.0)


class ChannelSettings(Section):
    """The channel pages: the big-brand subsidy channel and category browsing (docs/channels.md)."""

    # SUBSIDY CHANNEL: eligibility
    subsidy_min_store_score: float = Field(
        60.0, ge=0, le=100, description="store experience score a product's store needs for the subsidy "
                                        "channel (大牌大补); below it the product is not recalled there")
    subsidy_requires_authentic: bool = Field(
        True, description="the subsidy channel takes only products with the authenticity guarantee "
                          "(假一赔九) when the mall records it (some product has it); a mall without the "
                          "column, or where none has it, is not filtered on it")
    subsidy_candidates: int = Field(
        400, ge=1, description="eligible products the subsidy channel recalls per request, by merit "
                               "(product score) then subsidy depth")
    # SUBSIDY CHANNEL: the slot's theme and the timed subsidy sessions
    subsidy_theme_boost: float = Field(
        3.0, ge=0, description="on the subsidy channel, products of the time slot's theme move up by this "
                               "many score deviations, so they lead the slot (the rules.theme_boost of every "
                               "surface comes on top)")
    subsidy_session_hours: list[Annotated[int, Field(ge=0, le=23)]] = Field(
        [6, 12, 18], description="mall-local hours at which a timed subsidy session starts on the slot's "
                                 "theme")
    subsidy_session_minutes: int = Field(
        60, ge=1, le=360, description="how long each subsidy session lasts")
    subsidy_session_boost: float = Field(
        1.0, ge=0, description="during a session, a theme product moves up by this many score deviations "
                               "times its subsidy depth over the deepest theme subsidy among the candidates "
                               "(the deepest gets all of it)")
    # SUBSIDY CHANNEL: exposure pacing
    pacing: bool = Field(
        True, description="pace each participating brand's exposure on the subsidy channel to its daily "
                          "promise (needs the live state; without it the page says pacing is off)")
    pacing_daily_promise: int = Field(
        500, ge=0, description="impressions on the subsidy channel promised to each participating brand "
                               "per mall-local day")
    pacing_brand_promises: dict[int, Annotated[int, Field(ge=0)]] = Field(
        {}, description="per brand id, a daily promise other than pacing_daily_promise")
    pacing_strength: float = Field(
        2.0, ge=0, description="score deviations a brand moves at most: up when behind its pace, down when "
                               "ahead (linear in the relative gap, clipped at one promise-to-date); on the "
                               "simulated day 2 takes the end-of-day pacing error from 0.47 to 0.25 for no "
                               "measurable GMV (docs/channels.md)")
    pacing_curve: Literal["mall", "flat"] = Field(
        "mall", description="how much of a day's promise is due by an hour: the share of the day's traffic "
                            "elapsed on pacing_hourly_traffic (mall) or of the day's hours (flat)")
    pacing_hourly_traffic: list[Annotated[float, Field(ge=0)]] = Field(
        list(MALL_HOURLY_TRAFFIC), min_length=24, max_length=24,
        description="the mall's traffic per local hour 0-23 (any scale), the pace of the mall curve")
    closed_loop_share: float = Field(
        0.0, ge=0, le=1, description="share of the closed loop's sessions (experiment closed-loop) that "
                                     "browse the subsidy channel (POST /v1/channel/subsidy) instead of the "
                                     "homepage (the simulated mall sends 10% of its sessions to the channel)")
    # CATEGORY PAGES
    category_candidates: int = Field(
        400, ge=1, description="products of the category a category page recalls by its prior (product "
                               "score x (1 + popularity)), before the personal sources restricted to it")


class BadgeSettings(Section):
    """Card badges: the trust and offer attributes, the subsidy flag and new listings
    (ranking/badges.py, docs/offers.md)."""

    new_product_days: float = Field(
        14.0, gt=0, description="a listing younger than this many days at the request's time carries the "
                                "new_product badge on its card (and passes a new_product filter)")


class ColdStartSettings(Section):
    """Cold start for new products and new stores' products: exploration slots filled by a
    Thompson-sampling bandit with leaf-category priors, its budget per surface and its
    graduation (ranking/cold_start/, docs/cold_start.md)."""

    enabled: bool = Field(True, description="place cold-start exploration slots (off: the slots rank as "
                                            "any other position)")
    new_product_days: int = Field(14, ge=0, description="a product listed less than this many days "
                                                        "before the request is new (live listings: their "
                                                        "change time)")
    new_store_days: int = Field(30, ge=0, description="a product of a store opened less than this many days "
                                                      "before the request is new, whatever its age")
    slots: dict[Surface, list[Annotated[int, Field(ge=1)]]] = Field(
        {"homepage": [5, 15], "channel": [4, 12], "search": [6]},
        description="the budget: per surface (homepage, channel, search; a rerank request's page gets its "
                    "surface's), the positions (1-based) given to a new product drawn by the bandit; a "
                    "surface not named gets none")
    pool_max: int = Field(30, ge=1, description="the bandit draws from at most this many exploring "
                                                "candidates, best ranked first")
    prior_strength: float = Field(
        200.0, gt=0, description="the leaf category's order and click rates count as this many impressions "
                                 "of prior evidence in each new product's Beta posterior")
    graduation_impressions: int = Field(
        1000, ge=1, description="a new product with this many impressions (the bundle's window plus the "
                                "live last day) graduates: it ranks like any other, with no exploration")
    retire_confidence: float = Field(
        0.95, gt=0.5, lt=1, description="a new product whose order rate is below its leaf's mean with at "
                                        "least this posterior probability is retired from exploration")
    propensity_grid: int = Field(
        256, ge=32, le=65_536, description="quadrature points of a placement's exact propensity (each pool "
                                           "member's chance of the highest draw); 256 is within about 1e-4 "
                                           "of the integral")


class Settings(BaseSettings):
    """All of Shelfrank's defaults."""

    model_config = SettingsConfigDict(
        env_prefix="SHELFRANK_", env_nested_delimiter="__", extra="forbid"
    )

    mall: MallSettings = MallSettings()
    simulator: SimulatorSettings = SimulatorSettings()
    scores: ScoreSettings = ScoreSettings()
    recall: RecallSettings = RecallSettings()
    training: TrainingSettings = TrainingSettings()
    rules: RulesSettings = RulesSettings()
    serving: ServingSettings = ServingSettings()
    real_data: RealDataSettings = RealDataSettings()
    live: LiveSettings = LiveSettings()
    counterfactual: CounterfactualSettings = CounterfactualSettings()
    consistency: ConsistencySettings = ConsistencySettings()
    paths: PathSettings = PathSettings()
    bench: BenchSettings = BenchSettings()
    catalog: CatalogSettings = CatalogSettings()
    merchandising: MerchandisingSettings = MerchandisingSettings()
    channels: ChannelSettings = ChannelSettings()
    badges: BadgeSettings = BadgeSettings()
    cold_start: ColdStartSettings = ColdStartSettings()


ENV_PREFIX = "SHELFRANK_"


def unknown_environment(environ: dict[str, str]) -> list[str]:
    """``SHELFRANK_<SECTION>__<FIELD>`` variables that name no setting (pydantic-settings
    would ignore them silently, so a typo like ``SHELFRANK_RECALL__RRFK`` would change
    nothing). Names without ``__`` (``SHELFRANK_EFFECTIVE_SETTINGS``, the benchmarks' own)
    are not settings and are left alone."""
    bad = []
    for name in environ:
        if not name.upper().startswith(ENV_PREFIX) or "__" not in name:
            continue  # settings are SECTION__FIELD; single-underscore names are the tools' own
        model: Any = Settings
        for part in name[len(ENV_PREFIX):].lower().split("__"):
            fields = getattr(model, "model_fields", None)
            if fields is None:  # a dict setting (e.g. quotas): its keys are free
                break
            if part not in fields:
                bad.append(name)
                break
            model = fields[part].annotation
    return sorted(bad)


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """Turn ``["scores.window_days=60", ...]`` into a nested dict for :func:`load_settings`.

    Values are parsed as JSON when they can be (numbers, booleans, lists, objects) and
    kept as strings otherwise.
    """
    import json

    nested: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"override {pair!r} is not of the form section.field=value")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = nested
        parts = key.strip().split(".")
        for i, part in enumerate(parts[:-1]):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"override {pair!r} goes inside {'.'.join(parts[:i + 1])}, "
                                 "which an earlier override set to a value")
        node[parts[-1]] = value
    return nested


def secret_fields(model: type[BaseModel] | None = None,
                  prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The path (section, field) of every secret setting, for redacting dumps written before
    secrets were masked (an old bundle's manifest)."""
    out = []
    for name, info in (model or Settings).model_fields.items():
        kind = info.annotation
        if kind is SecretStr:
            out.append((*prefix, name))
        elif isinstance(kind, type) and issubclass(kind, BaseModel):
            out += secret_fields(kind, (*prefix, name))
    return out


def redact_secrets(dumped: dict[str, Any]) -> dict[str, Any]:
    """A copy of a settings dump (``model_dump(mode="json")``, possibly an old one holding a
    secret in clear) with every secret setting masked."""
    out = json_copy(dumped)
    for path in secret_fields():
        node = out
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and node.get(path[-1]):
            node[path[-1]] = SECRET_MASK
    return out


def json_copy(value: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts and lists copied, leaves shared)."""
    if isinstance(value, dict):
        return {k: json_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_copy(v) for v in value]
    return value


def settings_json_with_secrets(settings: Settings) -> str:
    """The settings as JSON with the secrets in clear: only for ``shelfrank serve`` handing its
    effective settings to its own worker processes (``SHELFRANK_EFFECTIVE_SETTINGS``); every
    other dump masks them."""
    return settings.model_dump_json(context=REVEAL_SECRETS)


def with_rule_overrides(settings: Settings, overrides: dict[str, Any]) -> Settings:
    """``settings`` with some ``rules.*`` replaced (an experiment arm's own business rules),
    validated as the rules section is; a ``ValueError`` names a bad key or value."""
    if not overrides:
        return settings
    rules = RulesSettings.model_validate({**settings.rules.model_dump(), **overrides})
    return settings.model_copy(update={"rules": rules})


def load_settings(overrides: list[str] | None = None) -> Settings:
    """Settings from defaults, then environment, then ``section.field=value`` overrides."""
    base = Settings()
    if not overrides:
        return base
    merged = _deep_merge(base.model_dump(), parse_overrides(overrides))
    return Settings.model_validate(merged)


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out
