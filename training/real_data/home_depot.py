"""Home Depot search relevance: Shelfrank's search recall and reranker on real queries.

The data (``../shared/datasets/home_depot/``) are (query, product title, relevance) pairs
judged by people, relevance 1 (irrelevant) to 3 (highly relevant). Two questions:

**Recall.** Every product title seen in the train and test files is indexed with the
mall's own search recall (:class:`ranking.recall.search.SearchRecall`: BM25 over
title words, char-n-gram LSA embeddings in FAISS, and their reciprocal-rank fusion).
For each test query, recall@K is the share of its relevant products (relevance >=
``home_depot_relevant``, 2.5) found in the top K of each source.

**Reranking.** For each test query, its judged products are ordered by random scores
(mean over 10 seeds), by BM25 score, and by a LambdaRank model trained on the train
file's queries; NDCG@10 uses gain = relevance - 1 with scikit-learn's definition
(linear gain, log2 discount, ties averaged; a query whose products are all irrelevant
scores 0), over test queries with at least two judged products.

The reranker's features (:func:`pair_features`) are text overlap (BM25 score and its
share of the query's best, query-term coverage, head-noun and number matches,
character-bigram overlap, lengths), semantic similarity (LSA cosine), listwise context
(similarity to the centroid of the query's judged products: an off-topic product looks
unlike the others) and product-side priors learnt on the train queries only (the
product's mean relevance and judgement count, leave-one-out on the train rows so no row
sees its own label).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ranking.merchandising.synonym import Synonym
from ranking.merchandising.synonym_index import SynonymIndex
from ranking.recall.fusion import reciprocal_rank_fusion
from ranking.recall.search import SearchRecall
from ranking.recall.tokenize import char_bigrams, searchable, tokenize
from ranking.settings import MerchandisingSettings, RealDataSettings, RecallSettings

COLUMNS = ("product_uid", "product_title", "search_term", "relevance")
N_RANDOM_SEEDS = 10


def read_pairs(path: Path) -> pd.DataFrame:
    """Judged (query, product) pairs; a clear error for a file of another shape."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        frame = pd.read_csv(path, encoding="utf-8")
    except ValueError as exc:  # empty, not text, not CSV (pandas' errors are ValueErrors)
        raise ValueError(f"{path}: not a readable CSV file ({exc})") from exc
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected {list(COLUMNS)}")
    frame = frame.dropna(subset=list(COLUMNS))
    bad = ~frame.relevance.between(1, 3)
    if bad.any():
        raise ValueError(f"{path}: {int(bad.sum())} relevance value(s) outside 1-3")
    frame["search_term"] = frame.search_term.astype(str)
    frame["product_title"] = frame.product_title.astype(str)
    return frame.reset_index(drop=True)


def split_by_query(pairs: pd.DataFrame, test_fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out a random ``test_fraction`` of the distinct queries (all their pairs)."""
    queries = np.sort(pairs.search_term.unique())
    rng = np.random.default_rng(seed)
    test_q = rng.choice(queries, size=max(1, round(len(queries) * test_fraction)), replace=False)
    is_test = pairs.search_term.isin(set(test_q.tolist()))
    return pairs[~is_test].reset_index(drop=True), pairs[is_test].reset_index(drop=True)


# ---- reranking metric ------------------------------------------------------------------
def sklearn_ndcg_at_k(group: np.ndarray, gain: np.ndarray, score: np.ndarray, k: int) -> np.ndarray:
    """Per-group NDCG@k exactly as ``sklearn.metrics.ndcg_score`` defines it (ties averaged).

    One group at a time through the function ``ndcg_score`` computes with, after the checks
    ``ndcg_score`` runs on every call (its parameter and target-type validation took about 85%
    of the time over the Home Depot test split's 1,645 lists; the values are the same, bit for
    bit: tests/test_real_data_eval.py). Groups must be contiguous; gains non-negative and
    finite. Returns one value per group, in order of first appearance.
    """
    from sklearn.metrics._ranking import _ndcg_sample_scores

    out = []
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    ends = np.r_[starts[1:], len(group)]
    for lo, hi in zip(starts, ends, strict=True):
        one = _ndcg_sample_scores(gain[None, lo:hi], score[None, lo:hi], k=k, ignore_ties=False)
        out.append(float(np.average(one)) if hi - lo > 1 else np.nan)
    return np.asarray(out, dtype=np.float64)


# ---- features --------------------------------------------------------------------------
FEATURES = (
    "bm25",
    "bm25_share_of_best",
    "dense_cosine",
    "dense_share_of_best",
    "centroid_cosine",
    "query_coverage",
    "head_noun_match",
    "first_word_match",
    "number_match",
    "char_bigram_overlap",
    "query_words",
    "title_words",
    "title_chars",
    "product_mean_relevance",
    "product_judgements",
    "neighbour_relevance",
    "neighbour_support",
    "word_lsa_cosine",
)
NEIGHBOUR_QUERIES = 20
# with sentence embeddings (:mod:`ranking.recall.sentence`, the ``semantic`` extra)
SEMANTIC_FEATURES = (
    "sentence_cosine",
    "sentence_share_of_best",
    "sentence_rank",
    "sentence_centroid_cosine",
    "sentence_query_centroid",
)


def feature_names(semantic: bool) -> tuple[str, ...]:
    return FEATURES + SEMANTIC_FEATURES if semantic else FEATURES


class TextVectors:
    """One vector per distinct text."""

    def __init__(self, texts: list[str], vectors: np.ndarray) -> None:
        self.row = {t: i for i, t in enumerate(texts)}
        self.vectors = vectors

    def of(self, texts) -> np.ndarray:
        return self.vectors[[self.row[str(t)] for t in texts]]


@dataclass
class SentenceVectors:
    """Sentence embeddings of every distinct query and title, each text encoded once."""

    queries: TextVectors
    titles: TextVectors

    @classmethod
    def encode(cls, encoder, queries: list[str], titles: list[str]) -> SentenceVectors:
        """Queries in full, titles cut at ``encoder.title_tokens`` (their head names the product)."""
        queries, titles = sorted(set(queries)), sorted(set(titles))
        return cls(
            TextVectors(queries, encoder.encode(queries)),
            TextVectors(titles, encoder.encode(titles, max_tokens=encoder.title_tokens)),
        )


def sentence_features(sentences: SentenceVectors, pairs: pd.DataFrame) -> np.ndarray:
    """(rows x SEMANTIC_FEATURES) for pairs sorted by query: query-title cosine, its gap to the
    query's best and its rank (0 = best, 1 = worst), cosine to the centroid of the query's
    other judged titles, and the query's cosine to that centroid."""
    n = len(pairs)
    out = np.full((n, len(SEMANTIC_FEATURES)), np.nan, dtype=np.float32)
    queries = pairs.search_term.to_numpy()
    starts = np.flatnonzero(np.r_[True, queries[1:] != queries[:-1]])
    ends = np.r_[starts[1:], n]
    q_vec = sentences.queries.of(queries[starts])
    t_vec = sentences.titles.of(pairs.product_title.to_numpy())
    for qi, (lo, hi) in enumerate(zip(starts, ends, strict=True)):
        vecs = t_vec[lo:hi]
        cos = vecs @ q_vec[qi]
        out[lo:hi, 0] = cos
        out[lo:hi, 1] = cos - cos.max()
        if hi - lo > 1:
            out[lo:hi, 2] = np.argsort(np.argsort(-cos, kind="stable"), kind="stable") / (hi - lo - 1)
            others = (vecs.sum(axis=0)[None, :] - vecs) / (hi - lo - 1)
            norms = np.maximum(np.linalg.norm(others, axis=1), 1e-9)
            out[lo:hi, 3] = np.einsum("ij,ij->i", vecs, others) / norms
            out[lo:hi, 4] = (others @ q_vec[qi]) / norms
    return out


@dataclass
class ProductPrior:
    """Per product: the sum and count of its train relevances (for leave-one-out means)."""

    ids: np.ndarray
    total: np.ndarray
    count: np.ndarray

    @classmethod
    def fit(cls, train: pd.DataFrame) -> ProductPrior:
        g = train.groupby("product_uid").relevance.agg(["sum", "count"]).sort_index()
        return cls(g.index.to_numpy(np.int64), g["sum"].to_numpy(float), g["count"].to_numpy(float))

    def lookup(
        self, product_ids: np.ndarray, own_relevance: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(mean, count) per row; ``own_relevance`` given means leave that row's label out."""
        pos = np.clip(np.searchsorted(self.ids, product_ids), 0, max(len(self.ids) - 1, 0))
        known = (self.ids[pos] == product_ids) if len(self.ids) else np.zeros(len(product_ids), bool)
        total = np.where(known, self.total[pos], 0.0)
        count = np.where(known, self.count[pos], 0.0)
        if own_relevance is not None:
            total, count = total - own_relevance, count - 1
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count > 0, total / count, np.nan)
        return mean, count


def _overlap(query: str, title: str, title_tokens: set[str]) -> tuple[float, float, float, float, float]:
    q = tokenize(query)
    if not q:
        return (0.0, 0.0, 0.0, 0.0, 0.0)
    coverage = sum(t in title_tokens for t in q) / len(q)
    words = [t for t in q if not t[0].isdigit()]
    head = float(words[-1] in title_tokens) if words else np.nan
    first = float(words[0] in title_tokens) if words else np.nan
    numbers = [t for t in q if t[0].isdigit()]
    number = sum(t in title_tokens for t in numbers) / len(numbers) if numbers else np.nan
    qb = set(char_bigrams(query))
    bigram = len(qb & set(char_bigrams(title))) / len(qb) if qb else 0.0
    return coverage, head, first, number, bigram


def query_texts(pairs: pd.DataFrame) -> np.ndarray:
    """The text the features read for each pair: ``query`` (the spelling-corrected search
    term, set by :func:`evaluate_home_depot`) when present, else ``search_term``. Groups
    stay keyed by ``search_term``, so two typed queries never merge."""
    return pairs.get("query", pairs.search_term).astype(str).to_numpy()


@dataclass
class QueryNeighbours:
    """What people judged for similar train queries: a query-intent prior for any query.

    For a query q and a product p, the neighbours are the ``NEIGHBOUR_QUERIES`` train
    queries most similar to q (LSA cosine, q itself excluded) and their judged products
    p'; ``neighbour_relevance`` is the mean of rel(q', p') weighted by
    ``relu(cos(q, q'))^2 * relu(cos(p, p'))^4`` (judgements of similar queries on
    similar products), ``neighbour_support`` the total weight behind it.
    """

    queries: list[str]
    query_vectors: np.ndarray
    product_ptr: np.ndarray
    product_vectors: np.ndarray
    relevance: np.ndarray

    @classmethod
    def fit(cls, recall: SearchRecall, train: pd.DataFrame) -> QueryNeighbours:
        train = train.sort_values(["search_term", "product_uid"], kind="stable")
        queries = train.search_term.to_numpy()
        starts = np.flatnonzero(np.r_[True, queries[1:] != queries[:-1]])
        texts = query_texts(train)
        distinct = [str(texts[i]) for i in starts]
        pos = np.searchsorted(recall.product_ids, train.product_uid.to_numpy(np.int64))
        return cls(
            distinct,
            recall.encoder.encode(distinct),
            np.r_[starts, len(train)],
            recall.vectors[pos],
            train.relevance.to_numpy(np.float32),
        )

    def score(
        self, query: str, query_vector: np.ndarray, product_vectors: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        sims = self.query_vectors @ query_vector
        order = np.argsort(-sims)[: NEIGHBOUR_QUERIES + 1]
        order = [j for j in order if self.queries[j] != query][:NEIGHBOUR_QUERIES]
        rows = np.concatenate([np.arange(self.product_ptr[j], self.product_ptr[j + 1]) for j in order])
        q_w = np.repeat(np.maximum(sims[order], 0) ** 2, np.diff(self.product_ptr)[order])
        p_w = np.maximum(product_vectors @ self.product_vectors[rows].T, 0) ** 4
        w = p_w * q_w[None, :]
        support = w.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(support > 0, (w @ self.relevance[rows]) / support, np.nan)
        return mean, support


class WordLSA:
    """Word-level LSA (TF-IDF over title words, truncated SVD): topical similarity that
    character n-grams miss ("fridge" near "refrigerator" when titles share context)."""

    def __init__(self, titles: list[str], dim: int, seed: int) -> None:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizer = TfidfVectorizer(analyzer=tokenize, sublinear_tf=True, min_df=2)
        x = self.vectorizer.fit_transform(titles)
        self.svd = TruncatedSVD(n_components=min(dim, x.shape[1] - 1), random_state=seed).fit(x)

    def encode(self, texts: list[str]) -> np.ndarray:
        v = self.svd.transform(self.vectorizer.transform(texts))
        return (v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)).astype(np.float32)


def lexical_scores(recall: SearchRecall, query: str, synonyms: SynonymIndex | None) -> np.ndarray:
    """BM25 of ``query`` over every product; with synonym sets that fire on it, the lexical
    recall's score with their terms as alternatives (:meth:`QueryWordMatcher.scores`)."""
    rewrite = synonyms.rewrite(query) if synonyms is not None else None
    if not rewrite:
        return recall.bm25.scores(query)
    return recall.query_words.scores(query, rewrite, recall.synonym_weight)[0]


def pair_features(
    recall: SearchRecall,
    pairs: pd.DataFrame,
    prior: ProductPrior,
    is_train: bool,
    neighbours: QueryNeighbours | None = None,
    word_lsa: WordLSA | None = None,
    sentences: SentenceVectors | None = None, synonyms: SynonymIndex | None = None,
) -> np.ndarray:
    """(rows x feature_names(sentences is not None)) for pairs sorted by query (synonyms: lexical_scores)."""
    n = len(pairs)
    out = np.full((n, len(FEATURES)), np.nan, dtype=np.float32)
    col = {name: i for i, name in enumerate(FEATURES)}
    pids = pairs.product_uid.to_numpy(np.int64)
    pos = np.searchsorted(recall.product_ids, pids)
    queries = pairs.search_term.to_numpy()
    titles = pairs.product_title.to_numpy()
    starts = np.flatnonzero(np.r_[True, queries[1:] != queries[:-1]])
    ends = np.r_[starts[1:], n]
    texts = query_texts(pairs)
    distinct = [texts[s] for s in starts]
    q_vec = recall.encoder.encode(distinct)
    for qi, (lo, hi) in enumerate(zip(starts, ends, strict=True)):
        bm = lexical_scores(recall, distinct[qi], synonyms)
        rows = slice(lo, hi)
        out[rows, col["bm25"]] = bm[pos[lo:hi]]
        best = float(bm.max())
        out[rows, col["bm25_share_of_best"]] = bm[pos[lo:hi]] / best if best > 0 else 0.0
        vecs = recall.vectors[pos[lo:hi]]
        cos = vecs @ q_vec[qi]
        out[rows, col["dense_cosine"]] = cos
        out[rows, col["dense_share_of_best"]] = cos - cos.max()
        if neighbours is not None:
            mean, support = neighbours.score(str(distinct[qi]), q_vec[qi], vecs)
            out[rows, col["neighbour_relevance"]] = mean
            out[rows, col["neighbour_support"]] = support
        centroid = vecs.mean(axis=0)
        if hi - lo > 1:  # leave the product itself out of its centroid
            others = (centroid[None, :] * (hi - lo) - vecs) / (hi - lo - 1)
            norms = np.maximum(np.linalg.norm(others, axis=1), 1e-9)
            out[rows, col["centroid_cosine"]] = np.einsum("ij,ij->i", vecs, others) / norms
    for i in range(n):
        tt = tokenize(titles[i])
        cov, head, first, number, bigram = _overlap(texts[i], titles[i], set(tt))
        out[i, col["query_coverage"]] = cov
        out[i, col["head_noun_match"]] = head
        out[i, col["first_word_match"]] = first
        out[i, col["number_match"]] = number
        out[i, col["char_bigram_overlap"]] = bigram
        out[i, col["query_words"]] = len(tokenize(texts[i]))
        out[i, col["title_words"]] = len(tt)
        out[i, col["title_chars"]] = len(titles[i])
    if word_lsa is not None:
        qw = word_lsa.encode([str(q) for q in distinct])
        tw = word_lsa.encode([str(t) for t in titles])
        q_of_row = np.repeat(np.arange(len(distinct)), ends - starts)
        out[:, col["word_lsa_cosine"]] = np.einsum("ij,ij->i", tw, qw[q_of_row])
    mean, count = prior.lookup(pids, pairs.relevance.to_numpy(float) if is_train else None)
    out[:, col["product_mean_relevance"]] = mean
    out[:, col["product_judgements"]] = count
    if sentences is not None:
        out = np.hstack([out, sentence_features(sentences, pairs)])
    return out


def _labels(relevance: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """Integer grades for LambdaRank (sixths of a relevance point) and their linear gains."""
    grade = np.rint((relevance - 1.0) * 6).astype(np.int32)
    return grade, [g / 6 for g in range(13)]


def train_reranker(
    recall: SearchRecall,
    train: pd.DataFrame,
    prior: ProductPrior,
    rounds: int,
    seed: int,
    neighbours: QueryNeighbours | None = None,
    word_lsa: WordLSA | None = None,
    sentences: SentenceVectors | None = None,
    synonyms: SynonymIndex | None = None,
):
    """A LambdaRank booster on the train queries (no early stopping: a fixed budget)."""
    from training.learning.lambdarank import RankingData, train_lambdarank

    train = train.sort_values(["search_term", "product_uid"], kind="stable").reset_index(drop=True)
    x = pair_features(recall, train, prior, is_train=True, neighbours=neighbours, word_lsa=word_lsa,
                      sentences=sentences, synonyms=synonyms)
    label, gains = _labels(train.relevance.to_numpy(float))
    group = train.groupby("search_term", sort=False).size().to_numpy()
    params = {
        "objective": "lambdarank",
        "label_gain": gains,
        "num_leaves": 15,
        "learning_rate": 0.03,
        "min_data_in_leaf": 40,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambdarank_truncation_level": 20,
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
    }
    data = RankingData(x, label, group, feature_names=list(feature_names(sentences is not None)))
    return train_lambdarank(
        data,
        None,
        params,
        num_boost_round=rounds,
        early_stopping_rounds=None,
        position_debias=False,
        progress=False,
    )


def _recall_found(recall: SearchRecall, texts: list[str], rewrites: list, relevant: pd.Series,
                  queries: list[str], rrf_k: int, progress: bool) -> dict[str, dict[int, list[float]]]:
    """Per source (lexical with each query's synonym rewrite, dense, their fusion) and k (10,
    100): each test query's recall@k of its relevant products."""
    from tqdm import tqdm

    dense_ids, _ = recall.dense_batch(texts, 100)
    found: dict[str, dict[int, list[float]]] = {s: {10: [], 100: []} for s in ("lexical", "dense", "hybrid")}
    for i, q in enumerate(tqdm(queries, desc="recall", unit="query", disable=not progress)):
        lex, _ = recall.lexical(texts[i], 100, rewrites[i])
        den = dense_ids[i][dense_ids[i] >= 0]
        hyb, _ = reciprocal_rank_fusion([lex, den], k=rrf_k, limit=100)
        for name, ids in (("lexical", lex), ("dense", den), ("hybrid", hyb)):
            for k in (10, 100):
                found[name][k].append(recall_at(ids, relevant[q], k))
    return found


def _expanded_dense(recall: SearchRecall, texts: list[str], rewrites: list, relevant: pd.Series,
                    queries: list[str], rrf_k: int) -> dict:
    """Over the rewritten test queries: dense and hybrid recall@100 with the dense side reading the
    query as searched and reading it with the added terms appended (what the service does not
    do; measured here to say why)."""
    rows = [i for i, rw in enumerate(rewrites) if rw]
    if not rows:
        return {}
    out: dict = {"rewritten_queries": len(rows)}
    for name, dense_texts in (("as_searched", [texts[i] for i in rows]),
                              ("expanded", [rewrites[i].expanded(texts[i]) for i in rows])):
        ids, _ = recall.dense_batch(dense_texts, 100)
        dense, hybrid = [], []
        for n, i in enumerate(rows):
            den = ids[n][ids[n] >= 0]
            lex, _ = recall.lexical(texts[i], 100, rewrites[i])
            hyb, _ = reciprocal_rank_fusion([lex, den], k=rrf_k, limit=100)
            dense.append(recall_at(den, relevant[queries[i]], 100))
            hybrid.append(recall_at(hyb, relevant[queries[i]], 100))
        out[f"dense_recall@100_{name}"] = float(np.mean(dense))
        out[f"hybrid_recall@100_{name}"] = float(np.mean(hybrid))
    return out


def recall_at(found: np.ndarray, relevant: set[int], k: int) -> float:
    return len(relevant & set(found[:k].tolist())) / len(relevant)


def evaluate_home_depot(
    train: pd.DataFrame,
    test: pd.DataFrame,
    settings: RealDataSettings,
    progress: bool = True,
    sentences: SentenceVectors | None = None,
    recall_settings: RecallSettings | None = None,
    synonyms: list[Synonym] | None = None,
    merchandising: MerchandisingSettings | None = None,
) -> dict:
    """The ``shelfrank eval home-depot`` metrics (JSON shape in the module docstring of the CLI).

    ``synonyms`` (e.g. ``shelfrank synonyms mine``'s): each corrected query also searches their
    terms as the service's lexical recall does, and the reranker's BM25 features read them too.

    ``recall_settings`` (the ``recall`` section) gives BM25's ``bm25_k1`` and ``bm25_b``, the
    hybrid list's ``rrf_k``, and spelling: every query is corrected against the catalog's
    vocabulary as the service does (:mod:`ranking.recall.spelling`) before recall and the
    reranker's features; ``None`` (the defaults) or ``spelling_correction = false`` keeps
    them as typed.

    With ``settings.home_depot_sentence`` (and no ``sentences`` given), every distinct query
    and title is embedded with :class:`ranking.recall.sentence.SentenceEncoder` and the
    reranker gets :data:`SEMANTIC_FEATURES` too; when the ``semantic`` extra is missing the
    eval keeps the other features and says why under ``sentence_embeddings``.
    """
    from training.learning.lambdarank import predict

    started = time.perf_counter()
    sentence_info: dict = {"used": sentences is not None}
    if sentences is None and settings.home_depot_sentence:
        from ranking.recall import sentence

        usable, why = sentence.available()
        if usable:
            t0 = time.perf_counter()
            sentences = SentenceVectors.encode(
                sentence.SentenceEncoder(),
                pd.concat([train, test]).search_term.tolist(),
                pd.concat([train, test]).product_title.tolist(),
            )
            sentence_info = {
                "used": True,
                "model": "all-MiniLM-L6-v2",
                "texts": len(sentences.queries.row) + len(sentences.titles.row),
                "title_tokens": sentence.TITLE_TOKENS,
                "seconds": round(time.perf_counter() - t0, 1),
            }
        else:
            sentence_info = {"used": False, "reason": why}
    elif not settings.home_depot_sentence and sentences is None:
        sentence_info["reason"] = "off (real_data.home_depot_sentence)"
    catalog = pd.concat([train, test]).drop_duplicates("product_uid").sort_values("product_uid")
    r = recall_settings or RecallSettings(spelling_correction=False)
    recall = SearchRecall.from_texts(
        catalog.product_title.tolist(),
        catalog.product_uid.to_numpy(np.int64),
        dim=settings.home_depot_dense_dim,
        seed=settings.seed,
        k1=r.bm25_k1,
        b=r.bm25_b,
    )
    recall.use_query_words_from(r)  # sub-word matching as the recall settings say
    recall.use_synonyms_from(merchandising or MerchandisingSettings())
    index = SynonymIndex(synonyms) if synonyms else None
    index_seconds = time.perf_counter() - started
    spelling_info: dict = {"used": False}
    searched: dict[str, str] = {}  # search term -> the text recall and features read
    if r.spelling_correction:
        recall.use_speller_from(r)
        fixes = {q: recall.correct(q) for q in pd.concat([train, test]).search_term.unique()}
        searched = {q: fix.text for q, fix in fixes.items()}
        train, test = (p.assign(query=p.search_term.map(searched)) for p in (train, test))
        changed = sum(fix.changed for fix in fixes.values())
        spelling_info = {"used": True, "queries": len(fixes), "corrected": changed,
                         "corrected_share": round(changed / max(len(fixes), 1), 4)}

    # recall of relevant products per test query
    relevant = (
        test[test.relevance >= settings.home_depot_relevant]
        .groupby("search_term")
        .product_uid.apply(lambda s: set(s.astype(int)))
    )
    queries = list(relevant.index)
    texts = [searched.get(q, q) for q in queries]
    rewrites = [index.rewrite(t) if index is not None else None for t in texts]
    found = _recall_found(recall, texts, rewrites, relevant, queries, r.rrf_k, progress)
    expanded = _expanded_dense(recall, texts, rewrites, relevant, queries, r.rrf_k) if index else {}

    # reranking the judged products of each test query
    prior = ProductPrior.fit(train)
    neighbours = QueryNeighbours.fit(recall, train)
    word_lsa = WordLSA(catalog.product_title.tolist(), 128, settings.seed)
    booster = train_reranker(recall, train, prior, settings.home_depot_ltr_rounds, settings.seed, neighbours,
                             word_lsa, sentences, synonyms=index)
    test = test.sort_values(["search_term", "product_uid"], kind="stable").reset_index(drop=True)
    x_test = pair_features(recall, test, prior, is_train=False, neighbours=neighbours, word_lsa=word_lsa,
                           sentences=sentences, synonyms=index)
    group = test.search_term.to_numpy()
    gain = test.relevance.to_numpy(float) - 1.0
    rng = np.random.default_rng(settings.seed)
    random_runs = [sklearn_ndcg_at_k(group, gain, rng.random(len(test)), 10) for _ in range(N_RANDOM_SEEDS)]
    ndcg = {
        "random": float(np.nanmean(np.mean(random_runs, axis=0))),
        "lexical": float(np.nanmean(sklearn_ndcg_at_k(group, gain, x_test[:, 0].astype(float), 10))),
        "ltr": float(np.nanmean(sklearn_ndcg_at_k(group, gain, predict(booster, x_test), 10))),
    }
    judged = sklearn_ndcg_at_k(group, gain, gain, 10)
    importance = booster.feature_importance("gain")
    names = feature_names(sentences is not None)
    return {
        "queries": len(queries),
        # no letter or digit of any script ("!!!"): the service refuses them (422); here
        # they stay in "queries" and count as misses in every source (nothing is recalled)
        "queries_without_words": sum(not searchable(t) for t in texts),
        "recall@10": {s: float(np.mean(found[s][10])) for s in found},
        "recall@100": {s: float(np.mean(found[s][100])) for s in found},
        "ndcg@10": ndcg,
        "ndcg_queries": int(np.isfinite(judged).sum()),
        "products_indexed": len(catalog),
        "train_queries": int(train.search_term.nunique()),
        "index": recall.manifest,
        "index_seconds": round(index_seconds, 1),
        "seconds": round(time.perf_counter() - started, 1),
        "sentence_embeddings": sentence_info,
        "spelling": spelling_info,
        "synonyms": {"sets": len(synonyms or ()), "test_queries_rewritten": sum(map(bool, rewrites)),
                     **expanded},
        "feature_importance": dict(
            sorted(
                zip(names, (round(float(v), 1) for v in importance), strict=True), key=lambda kv: -kv[1]
            )
        ),
    }
