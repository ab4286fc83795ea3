"""One measured run: build search recall (BM25 + LSA + FAISS) over a simulated catalog.

``python -m bench.recall_index_build --scale large --out FILE.json`` builds the catalog's
titles with the simulator's world generator, indexes them with ``SearchRecall.from_texts``
(the code ``shelfrank train`` runs), and measures single-query dense search with one
thread: p50/p99 of encode + FAISS search, and recall@100 against exact search; then the
query spelling corrector over the catalog's vocabulary (build time, index size, and p50/p99
of correcting a product title with one Latin word misspelt, uncached); and the tokenizer's
speed (microseconds per text, best of three passes) over the titles, the queries and a set of
ten scripts (``tokenize`` runs over every title offline and ``searchable`` on every search
request); and how a shopper typing traditional Chinese fares: the Chinese words of 1,000
titles, searched as written (simplified) and converted to traditional characters with
OpenCC's phrase-aware s2t (the dev dependency; the rows are absent without it), and the
mean overlap of the two hybrid top-100 lists; and the same Chinese words typed in pinyin
(``pypinyin.lazy_pinyin``, syllables run together): the share the speller reads back into
exactly those characters, the hybrid top-100 overlap of the read query with the Chinese one,
searched as typed (no reader), the reader's build time and per-word latency, the share of
titles' Chinese words typed as one run ("detaishouji") read back into those words, and the
memory a fresh process needs for the readings (the reader's way, and importing pypinyin).
Run as its own process by ``bench/bench_recall.py`` so its peak memory is its own.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import time
from datetime import date

import faiss
import numpy as np

from ranking.recall.search import SearchRecall
from ranking.recall.tokenize import searchable, tokenize
from ranking.settings import SCALES, load_settings

SCRIPTS = ["Café Noir coffee beans 500g", "Crème brûlée dessert", "молоко пастеризованное 3,2% 1л",
           "コーヒー豆 ブラジル 200g", "Καφές ελληνικός 250g", "커피 원두 1kg", "กาแฟคั่วบด 250 กรัม",
           "قهوة عربية ٥٠٠ غرام", "हल्दी पाउडर 200 ग्राम", "Łosoś wędzony 100g"]


def microseconds_per_text(fn, texts: list[str], passes: int = 3) -> float:
    """Best of ``passes`` timed loops of ``fn`` over ``texts``, per text."""
    best = float("inf")
    for _ in range(passes):
        t = time.perf_counter()
        for text in texts:
            fn(text)
        best = min(best, time.perf_counter() - t)
    return best / max(len(texts), 1) * 1e6


def traditional_query_rows(recall: SearchRecall, titles: list[str], rng: np.random.Generator) -> dict:
    """The Chinese words of 1,000 titles as simplified queries and their traditional twins
    (OpenCC s2t): how many the conversion changes, and the mean overlap of the two queries'
    hybrid top-100 lists (1.0: the shopper's script does not matter)."""
    try:
        import opencc
    except ImportError:
        return {}
    to_traditional = opencc.OpenCC("s2t")
    queries = chinese_title_words(titles, rng)
    overlaps, changed = [], 0
    for simplified in queries:
        traditional = to_traditional.convert(simplified)
        changed += traditional != simplified
        a = set(recall.hybrid(simplified, 100)[0].tolist())
        b = set(recall.hybrid(traditional, 100)[0].tolist())
        overlaps.append(len(a & b) / max(len(a), 1))
    return {
        "traditional_queries": len(queries),
        "traditional_queries_changed_share": round(changed / max(len(queries), 1), 3),
        "traditional_top100_overlap": round(float(np.mean(overlaps)), 4),
    }


def chinese_title_words(titles: list[str], rng: np.random.Generator, n: int = 1000) -> list[str]:
    """The Chinese words (white-space separated runs holding a CJK ideograph) of ``n`` titles."""
    han = re.compile(r"[\u4e00-\u9fff]")
    chinese = [t for t in titles if han.search(t)]
    picked = rng.choice(len(chinese), min(n, len(chinese)), replace=False)
    return [" ".join(w for w in chinese[i].split() if han.search(w)) for i in picked]


def fresh_process_mb(code: str) -> float:
    """Peak resident memory (MB) a fresh Python process adds while running ``code``: the
    kernel's high-water mark (VmHWM, which starts afresh at exec; ``ru_maxrss`` would carry
    over this process's own peak through the fork)."""
    hwm = "int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])"
    script = f"h0 = {hwm}\n{code}\nprint(({hwm} - h0) / 1024)"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return round(float(done.stdout.split()[-1]), 1)


def pinyin_memory_rows() -> dict:
    """What the readings of every basic-block ideograph cost a fresh process, read the way
    the reader does (pypinyin's character table alone) and by importing pypinyin (which
    loads its phrase dictionary too)."""
    every = "[chr(c) for c in range(0x4E00, 0x9FA6)]"
    return {
        "pinyin_readings_mb": fresh_process_mb(
            f"from ranking.recall.pinyin import character_readings\ncharacter_readings({every})"),
        "pypinyin_import_mb": fresh_process_mb("from pypinyin import Style, pinyin\n"
                                               "pinyin('手', style=Style.NORMAL, heteronym=True)"),
    }


def pinyin_query_rows(recall: SearchRecall, titles: list[str], rng: np.random.Generator) -> dict:
    """Chinese title words typed in pinyin: read back exactly, top-100 overlap, speed."""
    from pypinyin import lazy_pinyin

    from ranking.recall.pinyin import PinyinReader

    t0 = time.perf_counter()
    reader = PinyinReader(recall.bm25.document_frequency())
    build_seconds = time.perf_counter() - t0
    queries = chinese_title_words(titles, rng)
    words = [w for q in queries for w in q.split() if re.fullmatch(r"[\u4e00-\u9fff]+", w)]
    exact, overlaps, as_typed, latencies = 0, [], [], []
    for word in words:
        typed = "".join(lazy_pinyin(word))
        t = time.perf_counter()
        read = reader.read(typed)
        latencies.append((time.perf_counter() - t) * 1e6)
        exact += read == word
        a = set(recall.hybrid(word, 100)[0].tolist())
        b = set(recall.hybrid(read or typed, 100)[0].tolist())
        overlaps.append(len(a & b) / max(len(a), 1))
        as_typed.append(len(a & set(recall.hybrid(typed, 100)[0].tolist())) / max(len(a), 1))
    lat = np.array(latencies)
    # the title's Chinese words typed as one run ("detaishouji" for "德泰 手机")
    together = [q for q in queries if len(q.split()) > 1 and re.fullmatch(r"[\u4e00-\u9fff ]+", q)]
    together_exact = sum(reader.read("".join(lazy_pinyin(q.replace(" ", "")))) == q for q in together)
    return {
        "pinyin_reader_build_seconds": round(build_seconds, 2),
        "pinyin_words": len(words),
        "pinyin_read_exact_share": round(exact / max(len(words), 1), 3),
        "pinyin_top100_overlap": round(float(np.mean(overlaps)), 4),
        "pinyin_as_typed_top100_overlap": round(float(np.mean(as_typed)), 4),
        "pinyin_read_p50_us": round(float(np.percentile(lat, 50)), 1),
        "pinyin_read_p99_us": round(float(np.percentile(lat, 99)), 1),
        "pinyin_run_together_queries": len(together),
        "pinyin_run_together_read_exact_share": round(together_exact / max(len(together), 1), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", default="large")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    settings = load_settings()
    from training.simulator.world import build_world

    started = time.perf_counter()
    world = build_world(SCALES[args.scale], 7, date(2026, 1, 1), 0.05, 8 * 3_600_000)
    titles = list(world.product_title)
    catalog_seconds = time.perf_counter() - started
    ids = np.arange(len(titles), dtype=np.int64)
    del world
    faiss.omp_set_num_threads(2)
    t0 = time.perf_counter()
    recall = SearchRecall.from_texts(
        titles, ids, dim=settings.recall.dense_dim, exact_max=settings.recall.exact_index_max_products
    )
    build_seconds = time.perf_counter() - t0
    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(7)
    queries = []
    for i in rng.choice(len(titles), 1000, replace=False):
        words = titles[i].split()
        queries.append(" ".join(words[-2:]) if len(words) > 1 else titles[i][:6])
    latencies = []
    for q in queries:
        t = time.perf_counter()
        recall.dense(q, 100)
        latencies.append((time.perf_counter() - t) * 1000)
    q_vec = recall.encoder.encode(queries[:200])
    recall_100 = recall.index.recall_vs_exact(q_vec, 100)
    lat = np.array(latencies)
    t0 = time.perf_counter()
    recall.use_speller_from(settings.recall)
    speller_seconds = time.perf_counter() - t0
    typos, fixed = [], 0
    for i in rng.choice(len(titles), 1000, replace=False):
        words = titles[i].lower().split()
        latin = [j for j, w in enumerate(words) if w.isascii() and w.isalpha() and len(w) >= 5]
        if latin:  # swap two middle letters of one Latin word: one edit
            j = latin[int(rng.integers(len(latin)))]
            w, k = words[j], len(words[j]) // 2
            words[j] = w[:k - 1] + w[k] + w[k - 1] + w[k + 1:]
            typos.append((" ".join(words), (words[j], w)))
    spell_ms = []
    for q, swap in typos:
        t = time.perf_counter()
        got = recall.speller.correct(q)  # the speller itself: uncached, every query pays the full lookup
        spell_ms.append((time.perf_counter() - t) * 1000)
        fixed += swap in got.corrections or (swap[0], swap[1].rstrip("s")) in got.corrections
    spell = np.array(spell_ms)
    sample = titles[:100_000]
    tokenize_title_us = microseconds_per_text(tokenize, sample)
    searchable_query_us = microseconds_per_text(searchable, queries)
    tokenize_scripts_us = microseconds_per_text(tokenize, SCRIPTS * 500)
    chinese_sample = [t for t in sample if re.search(r"[\u4e00-\u9fff]", t)]
    tokenize_chinese_us = microseconds_per_text(tokenize, chinese_sample)
    traditional = traditional_query_rows(recall, titles, rng)
    pinyin = {**pinyin_query_rows(recall, titles, rng), **pinyin_memory_rows()}
    out = {
        "products": len(ids),
        "catalog_seconds": round(catalog_seconds, 1),
        "index_build_seconds": round(build_seconds, 1),
        "index": recall.index.kind,
        "dense_dim": recall.encoder.dim,
        "dense_query_p50_ms": round(float(np.percentile(lat, 50)), 3),
        "dense_query_p99_ms": round(float(np.percentile(lat, 99)), 3),
        "dense_recall@100_vs_exact": round(float(recall_100), 4),
        "speller_build_seconds": round(speller_seconds, 2),
        "speller_words": len(recall.speller.words),
        "speller_index_mb": round(recall.speller.index_bytes / 1e6, 1),
        "speller_correct_p50_ms": round(float(np.percentile(spell, 50)), 3),
        "speller_correct_p99_ms": round(float(np.percentile(spell, 99)), 3),
        "speller_typo_titles": len(typos),
        "speller_typo_titles_restored": round(fixed / max(len(typos), 1), 3),
        "tokenize_title_us": round(tokenize_title_us, 2),
        "searchable_query_us": round(searchable_query_us, 2),
        "tokenize_ten_scripts_us": round(tokenize_scripts_us, 2),
        "tokenize_chinese_title_us": round(tokenize_chinese_us, 2),
        **traditional,
        **pinyin,
        "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
