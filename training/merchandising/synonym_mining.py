"""Synonym candidates mined from a query log: words shoppers type that the titles they lead to lack.

A mall's search log says which products each query led to (a click, a purchase, or a person's
relevance judgement). When shoppers who type *a* ("fridge") end up on products whose titles
never say *a* but say *b* ("refrigerator"), and other shoppers reach those same products by
typing *b*, then *a* is a word of the shoppers' vocabulary the catalog lacks, and ``a -> b``
is a one-way synonym candidate (a query for "fridge" should also search "refrigerator"; the
reverse is not implied). :func:`mine_synonyms`:

1. keeps the rows that count as the query leading to the product: ``relevance >=
   merchandising.mine_min_relevance`` when the log has a relevance column, else ``clicks >= 1``
   when it has clicks, else every row;
2. reads each query as the service searches it, spelling-corrected against the titles'
   vocabulary (:func:`catalog_speller`, unless ``recall.spelling_correction`` is off: the
   service's synonyms match the corrected query, and a typo is the speller's job), and cuts
   it into words as search reads them (:func:`ranking.recall.tokenize.pieces`:
   Latin words lightly stemmed, an unspaced Chinese run whole), dropping numbers, English stop
   words and one- or two-letter words;
3. per product, splits the words of the queries leading to it into those its title holds and
   those it lacks; every (lacked *a*, held *b*) pair is seen once on that product;
4. keeps a pair seen on at least ``mine_min_support`` products, on at least
   ``mine_min_confidence`` of the products *a* led to without their titles holding it, whose
   words never stand together in one query (words typed together describe one product,
   "cordless drill", rather than name it twice), where neither word is part of the other
   (sub-word matching already covers "phone"/"smartphone") and whose spellings are less alike
   than ``mine_max_spelling_similarity`` (difflib's ratio: "toiled"/"toilet", "vanitie"/"vanity"
   are typos, spelling correction's work, not synonyms);
5. gives each word *a* one one-way set with its ``mine_max_targets`` strongest *b*, with the
   figures in the reason, in the JSON ``/v1/synonyms`` import takes (a list of synonym sets).

A mall mining its own runs it on its search log joined to its catalog titles (``shelfrank synonyms
mine --queries log.csv --titles products.csv --out synonyms.json``), reviews the list (it is a
candidate list: a pair can be a complement the filters missed), and imports the sets it keeps;
docs/merchandising.md has the Home Depot figures.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path

import numpy as np
import pandas as pd

from ranking.merchandising.synonym import Synonym
from ranking.recall.lexical import BM25Index
from ranking.recall.pinyin import PinyinReader
from ranking.recall.query_words import STOP_WORDS
from ranking.recall.spelling import QuerySpeller
from ranking.recall.tokenize import pieces, search_form
from ranking.settings import MerchandisingSettings, RecallSettings

QUERY, PRODUCT, TITLE, RELEVANCE, CLICKS = "query", "product_id", "title", "relevance", "clicks"
# the same columns as the Home Depot file names them
ALIASES = {QUERY: ("search_term",), PRODUCT: ("product_uid",), TITLE: ("product_title",)}
MIN_WORD = 3  # letters of a Latin word worth mining ("tv" and "in" are not)


@dataclass(frozen=True)
class MinedPair:
    """One candidate: query word ``word``, title word ``target``, products seen on, confidence."""

    word: str
    target: str
    support: int
    confidence: float


def read_query_log(path: Path, titles: Path | None = None) -> pd.DataFrame:
    """A query log as (query, product_id[, relevance][, clicks], title): CSV (gzip is fine) or
    Parquet; Home Depot's column names are read as these. ``titles`` (a file with
    product_id and title) gives the titles when the log has none. A clear ValueError names a
    missing column."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    log = _read_table(path)
    if titles is not None:
        catalog = _read_table(Path(titles))
        if PRODUCT not in catalog.columns or TITLE not in catalog.columns:
            raise ValueError(f"{titles}: needs columns {PRODUCT} and {TITLE} (has {list(catalog.columns)})")
        log = log.drop(columns=[TITLE], errors="ignore").merge(
            catalog[[PRODUCT, TITLE]].drop_duplicates(PRODUCT), on=PRODUCT, how="left")
    missing = [c for c in (QUERY, PRODUCT, TITLE) if c not in log.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing} (columns: query, product_id, title, optional "
                         f"relevance or clicks; a titles file can give the titles)")
    log = log.dropna(subset=[QUERY, PRODUCT, TITLE])
    return log.assign(**{QUERY: log[QUERY].astype(str), TITLE: log[TITLE].astype(str)})


def _read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, encoding="utf-8")
    except (ValueError, OSError) as exc:
        raise ValueError(f"{path}: not a readable CSV or Parquet file ({exc})") from exc
    return frame.rename(columns={alias: name for name, aliases in ALIASES.items() for alias in aliases
                                 if alias in frame.columns and name not in frame.columns})


def words_of(query: str) -> list[str]:
    """The words of a query worth mining: Latin words (stemmed) of at least three letters and
    unspaced runs, without numbers and English stop words."""
    out = []
    for unspaced, run in pieces(query):
        word = "".join(run) if unspaced else run[0]
        if unspaced or (not word[0].isdigit() and len(word) >= MIN_WORD and word not in STOP_WORDS):
            out.append(word)
    return out


def _holds(title_form: str, title_words: set[str], word: str) -> bool:
    return word in title_words if word.isascii() else word in title_form


def _leading_rows(log: pd.DataFrame, settings: MerchandisingSettings) -> pd.DataFrame:
    if RELEVANCE in log.columns:
        return log[log[RELEVANCE] >= settings.mine_min_relevance]
    if CLICKS in log.columns:
        return log[log[CLICKS] >= 1]
    return log


def catalog_speller(log: pd.DataFrame, recall: RecallSettings) -> Callable[[str], str] | None:
    """The service's spelling correction (``recall.spelling_*``, pinyin) over the vocabulary of
    the log's titles, as a function of the query; None when ``recall.spelling_correction`` is off."""
    if not recall.spelling_correction:
        return None
    titles = log.drop_duplicates(PRODUCT)[TITLE].tolist()
    df = BM25Index.build(titles, np.arange(len(titles), dtype=np.int64)).document_frequency()
    pinyin = PinyinReader(df, min_df=recall.spelling_min_df, min_length=recall.pinyin_min_length) \
        if recall.pinyin_queries else None
    speller = QuerySpeller(df, min_df=recall.spelling_min_df, max_distance=recall.spelling_max_distance,
                           min_length=recall.spelling_min_length,
                           min_length_two_edits=recall.spelling_min_length_two_edits, pinyin=pinyin)
    return lambda query: speller.correct(query).text


def mine_pairs(log: pd.DataFrame, settings: MerchandisingSettings,
               correct: Callable[[str], str] | None = None) -> list[MinedPair]:
    """Every candidate pair that passes the thresholds (module docstring), strongest first;
    ``correct`` reads each query as searched (spelling), None: as typed."""
    rows = _leading_rows(log, settings)
    query_words = {q: words_of(correct(q) if correct is not None else q) for q in rows[QUERY].unique()}
    together = {frozenset((a, b)) for ws in query_words.values() for a in ws for b in ws if a != b}
    seen: Counter[tuple[str, str]] = Counter()
    lacked: Counter[str] = Counter()
    for _product, group in rows.groupby(PRODUCT, sort=False):
        title = search_form(str(group[TITLE].iloc[0]))
        title_words = {run[0] for unspaced, run in pieces(title) if not unspaced}
        words = set(_flatten(query_words[q] for q in group[QUERY].unique()))
        held = {w for w in words if _holds(title, title_words, w)}
        missing = words - held
        lacked.update(missing)
        seen.update((a, b) for a in missing for b in held)
    pairs = [MinedPair(a, b, n, n / lacked[a]) for (a, b), n in seen.items()
             if n >= settings.mine_min_support and n / lacked[a] >= settings.mine_min_confidence
             and frozenset((a, b)) not in together and a not in b and b not in a
             and SequenceMatcher(None, a, b).ratio() < settings.mine_max_spelling_similarity]
    return sorted(pairs, key=lambda p: (-p.support, -p.confidence, p.word, p.target))


def _flatten(lists: Iterable[list[str]]) -> list[str]:
    return [w for words in lists for w in words]


def mine_synonyms(log: pd.DataFrame, settings: MerchandisingSettings, source: str = "the query log",
                  correct: Callable[[str], str] | None = None) -> list[Synonym]:
    """One one-way synonym set per mined query word, its strongest title words after it."""
    targets: dict[str, list[MinedPair]] = defaultdict(list)
    for pair in mine_pairs(log, settings, correct):
        if len(targets[pair.word]) < settings.mine_max_targets:
            targets[pair.word].append(pair)
    out = []
    for word, pairs in sorted(targets.items(), key=lambda kv: (-kv[1][0].support, kv[0])):
        figures = ", ".join(f"{p.target}: {p.support} products, {p.confidence:.0%}" for p in pairs)
        reason = f"mined from {source}: '{word}' leads to titles saying {figures}"[:200]
        out.append(Synonym(terms=[word, *(p.target for p in pairs)], one_way=True, reason=reason))
    return out


def synonyms_json(synonyms: list[Synonym]) -> list[dict]:
    """The sets as ``/v1/synonyms`` import takes them (the service adds ids and authors)."""
    return [s.model_dump(mode="json", exclude_none=True) for s in synonyms]


def read_synonyms(path: Path) -> list[Synonym]:
    """Synonym sets from a JSON file: a list of sets, or an export's ``{"synonyms": [...]}``; a
    ValueError names the first bad set."""
    import json

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from exc
    items = data.get("synonyms") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a list of synonym sets or {{\"synonyms\": [...]}}")
    out = []
    for i, item in enumerate(items):
        try:
            out.append(Synonym.model_validate(item))
        except ValueError as exc:
            raise ValueError(f"{path}: synonym set {i}: {exc}") from exc
    return out
