"""The query's words and which of them each product holds: what search may claim it matched.

BM25 scores a product for any query token it shares, and the tokens of Chinese (and the
other unspaced scripts) are single characters as well as bigrams, so before this a title
sharing one character with a two-character word ("华" of "华为") counted as a text match,
as did a title holding only "cordless" of "cordless drill". Here the query is cut into the
*words* a shopper would name (:class:`QueryWords`), each held or not by each product:

* a word of a spaced script, or a number, is one word, held by a product whose text has
  it (a Latin one lightly stemmed, as BM25 reads it). One that no product text holds, of
  at least ``recall.subword_min_length`` letters, is held by the catalog words it is part
  of ("phone" inside "smartphone"), at most ``recall.subword_max_expansions`` of them, most
  frequent first: a vocabulary expansion done once per query over the index's own words
  (no extra index; a substring scan of a few thousand words). Those matches add
  ``recall.subword_weight`` of their BM25 weight to the lexical score. A small English
  stop list ("for", "with", ...) never makes a word strong or a notice;
* an unspaced run (Chinese, Japanese, Thai, Korean) is cut where its character bigrams stop
  occurring in the catalog: each stretch of consecutive bigrams the catalog holds is one
  word, held by a product holding all of them ("平板电脑": 平板, 板电, 电脑); the characters no
  held bigram covers form the words no product matches ("华为手机" -> 手机 held, 华为 not). A
  lone character is a word only when the run is that one character, so one shared
  character of a longer word never matches.

Cross-script matching comes from the catalog itself: every product's text carries its leaf
and top category names in Chinese and English (:func:`ranking.product_text.product_texts`),
so "smartphone" and "手机" find the same shelf. The operator's synonym sets
(:mod:`ranking.merchandising.synonym_index`) come in as a ``rewrite``: :meth:`QueryWordMatcher.lexical`
also searches their terms as alternatives of the words they stand for (:meth:`QueryWordMatcher.scores`),
and :meth:`QueryWordMatcher.words_with` counts a product holding a term as holding the word, so a
search for "phone" that finds "手机" titles is a text match, not a no-match page.

The strongest word is the one with the highest IDF (a word no product holds has the
highest of all); a card *matches* the query (``text_match``) when it holds that word. A
query whose strongest words no product holds gets a notice: partial when other words
matched ("no product matches 'drill'; showing results for 'cordless'"), none when nothing
did. Lexical recall (:meth:`QueryWordMatcher.lexical`) keeps only products holding at least
one word, so a single shared character no longer recalls a product.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import numpy as np

from ranking.bounded_memo import BoundedMemo, BytesMemo, read_only
from ranking.recall.held_terms import HeldTerms, build_held_terms
from ranking.recall.lexical import BM25Index, add_postings, ranked_rows, top_rows
from ranking.recall.tokenize import is_word, pieces
from ranking.recall.zero_scratch import ZeroScratch, reset
from ranking.row_lookup import RowLookup
from ranking.settings import MerchandisingSettings, RecallSettings
from ranking.sorted_sets import common, sorted_union

# merchandising.synonym_weight's default, for callers without settings (the service passes its own)
SYNONYM_WEIGHT: float = MerchandisingSettings.model_fields["synonym_weight"].default

# a synonym term's rows and scores (:meth:`QueryWordMatcher._term`) are kept per index for
# ``recall.synonym_terms_kept`` terms, each held by at most TERM_ROWS_KEPT products (8 bytes a row: at
# most 16 MB an index at the default 512); larger terms' rows and scores up to
# ``recall.synonym_large_terms_mb`` in all, and each synonym match's rows and what it adds there up
# to ``recall.synonym_matches_mb`` (:class:`~ranking.bounded_memo.BytesMemo`, oldest out)
TERM_ROWS_KEPT = 4096
MB = 1 << 20
_RECALL = RecallSettings()  # the defaults, for callers without settings (the service passes its own)
TERMS_KEPT = _RECALL.synonym_terms_kept
TERM_BYTES_KEPT = int(_RECALL.synonym_large_terms_mb * MB)
MATCH_BYTES_KEPT = int(_RECALL.synonym_matches_mb * MB)
WORDS_WITH_KEPT = _RECALL.synonym_words_kept

# A first-time query is scored at the sorted union of the rows it can recall (the rows holding a typed
# word, or a synonym match's term) when that is cheaper than the catalog-long sums: a binary search
# of a row in a column's postings costs about SPARSE_COST rows of the catalog-long form (its arrays
# as long as the catalog, and a scatter-add per posting; measured at 50,000 and 1M products)
SPARSE_COST = 8

# :func:`held_count` sorts the rows it counts when they are at most 1/SPARSE_COUNT of the catalog's,
# else marks a catalog-long mask: about where the two cost alike at 50,000 products (a scratch
# timeit); the mask's cost grows with the catalog, the sort's with the rows only
SPARSE_COUNT = 16

# query texts a held-terms build keeps tokenized and cut into words while it works (its own caches,
# not the pages': a book's 27,880 terms would push every page's query words out)
HOLD_CACHE = 256

# Lucene's default English stop set: never the strong word, never in a notice
STOP_WORDS = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no",
    "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to",
    "was", "will", "with"))


@dataclass(frozen=True)
class QueryWord:
    """One word of the query: its text, the index columns that hold it, how many products do."""

    text: str
    parts: tuple[tuple[int, ...], ...]  # a product holds the word if it holds one column of each part
    products: int  # catalog products holding it
    idf: float
    stop: bool = False
    inside: tuple[str, ...] = ()  # catalog words it matched as part of (sub-word expansion)
    synonyms: tuple[str, ...] = ()  # the operator's terms that stand for it (QueryRewrite)


@dataclass(frozen=True)
class QueryWords:
    """The words of one query, in query order."""

    words: tuple[QueryWord, ...]

    @property
    def content(self) -> list[QueryWord]:
        """The words that can be strong or named in a notice (stop words only if nothing else)."""
        kept = [w for w in self.words if not w.stop]
        return kept or list(self.words)

    @property
    def strongest(self) -> QueryWord | None:
        """The content word with the highest IDF (the first of equals)."""
        content = self.content
        return max(content, key=lambda w: w.idf) if content else None

    def notice(self, shown: bool = True) -> dict | None:
        """A partial-match or no-match notice when some content word no product holds; else
        None. ``shown``: whether the page has cards (a no-match page may have none: the
        relevance floor keeps unrelated products off it)."""
        content = self.content
        missing = [w.text for w in content if w.products == 0]
        if not missing:
            return None
        held = [w.text for w in content if w.products > 0]
        quoted = " ".join(missing)
        if held:
            return {"kind": "partial", "unmatched": missing, "matched": held,
                    "message": f"No product matches '{quoted}'; showing results for '{' '.join(held)}'."}
        closest = "; showing the closest products by text similarity only." if shown else "."
        return {"kind": "no_match", "unmatched": missing, "matched": [],
                "message": f"No product matches '{quoted}'{closest}"}


def in_sorted(rows: np.ndarray, postings: list[np.ndarray]) -> np.ndarray:
    """Whether each of ``rows`` (a page's few cards) is in one of the sorted ``postings``: a
    binary search per card and list. ``np.isin`` against the lists joined built a table as wide
    as the catalog's rows, or sorted the lists, on every call."""
    out = np.zeros(len(rows), dtype=bool)
    for post in postings:
        if len(post):
            out |= post[np.minimum(np.searchsorted(post, rows), len(post) - 1)] == rows
    return out


def held_count(rows: list[np.ndarray], n: int) -> int:
    """How many distinct rows (each below ``n``) the sorted distinct arrays ``rows`` hold together:
    a sort of them joined when they list at most ``n / SPARSE_COUNT`` rows, else marked in a mask
    of ``n`` and counted by ``np.count_nonzero`` (summing the booleans as integers costs more)."""
    listed = sum(len(r) for r in rows)
    if not listed:
        return 0
    if listed * SPARSE_COUNT <= n:
        return len(sorted_union(rows))
    held = np.zeros(n, dtype=bool)
    for r in rows:
        held[r] = True
    return int(np.count_nonzero(held))


def rewrite_key(rewrite: Any) -> tuple:
    """What of a synonym rewrite the lexical recall and the words read: each match's query units
    and terms (the sets' ids and the record change no score and no word)."""
    return tuple((a.matched, a.terms) for a in rewrite.alternatives) if rewrite else ()


def _lexical_key(query: str, k: int, rewrite: Any, synonym_weight: float) -> tuple:
    """What :meth:`QueryWordMatcher.lexical` keeps its result under."""
    return ("lexical", query, rewrite_key(rewrite), k, synonym_weight)


def _idf(n: int, df: int) -> float:
    return float(np.log1p((n - df + 0.5) / (df + 0.5)))


class QueryWordMatcher:
    """Query words over one BM25 index (its vocabulary and postings), with sub-word matching."""

    def __init__(self, bm25: BM25Index, min_length: int, max_expansions: int, weight: float,
                 cache: int = 4096, results: int = 1024, terms: int = TERMS_KEPT,
                 term_bytes: int = TERM_BYTES_KEPT, match_bytes: int = MATCH_BYTES_KEPT,
                 words_with: int = WORDS_WITH_KEPT) -> None:
        self.bm25 = bm25
        self.min_length, self.max_expansions, self.weight = min_length, max_expansions, weight
        self._rows = RowLookup(bm25.product_ids)
        if not bm25.weights.has_sorted_indices:  # postings in row order: looked up by binary search
            bm25.weights.sort_indices()
        self._df = np.diff(bm25.weights.indptr)
        # each column's postings sorted and distinct: rows held by several parts found by binary search
        self._postings_canonical = bool(bm25.weights.has_canonical_format)
        self._catalog_words: str | None = None  # "\n"-joined spaced-script vocabulary, built on first use
        self.words = lru_cache(maxsize=cache)(self._words)
        # text -> its BM25 columns (read-only): a first-time query's text was tokenized again by each
        # of _plain (twice), the typed scores, and each synonym term's rows and scores (~10-17 us each)
        self.tokens = lru_cache(maxsize=cache)(self._tokens)
        # (query, rewrite, k, weight) -> lexical recall, and (query, rewrite) -> words_with: read-only
        # results of this index, which never changes in place (new products or texts make a new
        # index and so a new matcher, :meth:`SearchRecall.replace_products`)
        self._kept: BoundedMemo[tuple, Any] = BoundedMemo(results)
        # synonym term -> (its rows, its scores there), or () when no product holds it: a term's
        # are the same whichever query's rewrite brings it, and the operator's terms recur across
        # queries (on bench.merch_synonyms' mix 85% of a first-time query's terms were seen before)
        self._terms: BoundedMemo[str, tuple] = BoundedMemo(terms)
        self._large_terms = BytesMemo(term_bytes)  # terms held by more than TERM_ROWS_KEPT rows
        # (match's words, its terms, synonym weight) -> (rows, what the match adds there) or ()
        self._matches = BytesMemo(match_bytes)
        # (query word, the terms standing for it) -> the word with them, its products holding the word
        # or a term counted (:meth:`words_with`): the operator's sets give a word the same terms in
        # every query, and the count depends on the index only besides
        self._words_with_terms: BoundedMemo[tuple, QueryWord] = BoundedMemo(words_with)
        # a zeroed catalog-long array per thread for a match's best and own sums (no fresh np.zeros)
        self._scratch = ZeroScratch(len(bm25.product_ids), bm25.weights.dtype)
        # the book's terms computed off the pages (ranking.recall.held_terms), one assignment
        self._held: HeldTerms | None = None

    @classmethod
    def of(cls, bm25: BM25Index, r: RecallSettings) -> QueryWordMatcher:
        """The matcher the ``recall.subword_*``, ``spelling_cache_queries``, ``search_results_kept``
        and ``synonym_*`` settings describe."""
        return cls(bm25, r.subword_min_length, r.subword_max_expansions, r.subword_weight,
                   cache=r.spelling_cache_queries, results=r.search_results_kept, terms=r.synonym_terms_kept,
                   term_bytes=int(r.synonym_large_terms_mb * MB), match_bytes=int(r.synonym_matches_mb * MB),
                   words_with=r.synonym_words_kept)

    def _tokens(self, text: str) -> np.ndarray:
        """``bm25.query_tokens(text)``, read-only (:attr:`tokens` keeps it per text)."""
        return read_only(self.bm25.query_tokens(text))

    # ---- the query's words -------------------------------------------------------------
    def _words(self, query: str) -> QueryWords:
        out: list[QueryWord] = []
        for unspaced, units in pieces(query):
            out += self._run_words(units) if unspaced else [self._word(units[0])]
        return QueryWords(tuple(out))

    def _column_rows(self, j: int) -> np.ndarray:
        """Index rows of the products holding vocabulary column ``j``."""
        w = self.bm25.weights
        return w.indices[w.indptr[j]:w.indptr[j + 1]]

    def _mask(self, parts: tuple[tuple[int, ...], ...]) -> np.ndarray:
        """Per index row: whether the product holds one column of every part."""
        held = np.zeros(len(self.bm25.product_ids), dtype=bool)
        if not parts or any(not p for p in parts):
            return held
        if len(parts) > 1 and self._postings_canonical:
            held[self._held_rows(parts)] = True
            return held
        held[:] = True
        for part in parts:
            mask = np.zeros(len(held), dtype=bool)
            for j in part:
                mask[self._column_rows(j)] = True
            held &= mask
        return held

    def _held_rows(self, parts: tuple[tuple[int, ...], ...]) -> np.ndarray:
        """Sorted index rows of the products holding one column of every part (two parts or more,
        none empty: a Chinese word's bigrams): the part with the fewest postings, then only those
        rows looked up in each other part's postings by binary search, instead of a catalog-long
        mask per part (about 0.5 ms a word). The rows :meth:`_mask` marks, when each column's
        postings are sorted and distinct (``_postings_canonical``)."""
        postings = [[self._column_rows(j) for j in part] for part in parts]
        seed = min(range(len(parts)), key=lambda i: sum(len(r) for r in postings[i]))
        first = postings[seed]
        rows = first[0] if len(first) == 1 else sorted_union(first)
        for i, lists in enumerate(postings):
            if i != seed and len(rows):
                rows = rows[in_sorted(rows, lists)]
        return rows

    def _holding(self, parts: tuple[tuple[int, ...], ...]) -> int:
        """Products holding one column of every part."""
        if not parts or not all(parts):  # an empty part (a word no catalog text holds, no sub-word
            return 0  # either: half the operator's terms in bench.speed's sets): no catalog-long mask
        if len(parts) == 1 and len(parts[0]) == 1:  # one column: its document frequency
            return int(self._df[parts[0][0]])
        if len(parts) > 1 and self._postings_canonical:
            return len(self._held_rows(parts))
        return int(np.count_nonzero(self._mask(parts)))

    def _make(self, text: str, parts: tuple[tuple[int, ...], ...], **kw) -> QueryWord:
        df = self._holding(parts)
        return QueryWord(text, parts, df, _idf(len(self.bm25.product_ids), df), **kw)

    def _word(self, token: str) -> QueryWord:
        vocab = self.bm25.vocabulary
        stop = token in STOP_WORDS
        if token in vocab:
            return self._make(token, ((vocab[token],),), stop=stop)
        inside = self.expansions(token)
        return self._make(token, (tuple(vocab[t] for t in inside),), stop=stop, inside=inside)

    def _run_words(self, chars: list[str]) -> list[QueryWord]:
        vocab = self.bm25.vocabulary
        if len(chars) == 1:
            col = vocab.get(chars[0])
            return [self._make(chars[0], ((col,),) if col is not None else ((),))]
        held = [chars[i] + chars[i + 1] in vocab for i in range(len(chars) - 1)]
        covered = [False] * len(chars)
        words: list[tuple[int, QueryWord]] = []
        i = 0
        while i < len(held):
            if not held[i]:
                i += 1
                continue
            j = i
            while j + 1 < len(held) and held[j + 1]:
                j += 1
            covered[i:j + 2] = [True] * (j + 2 - i)
            parts = tuple((vocab[chars[b] + chars[b + 1]],) for b in range(i, j + 1))
            words.append((i, self._make("".join(chars[i:j + 2]), parts)))
            i = j + 1
        i = 0
        while i < len(chars):  # characters no held bigram covers: words no product matches
            if covered[i]:
                i += 1
                continue
            j = i
            while j + 1 < len(chars) and not covered[j + 1]:
                j += 1
            words.append((i, self._make("".join(chars[i:j + 1]), ((),))))
            i = j + 1
        return [w for _, w in sorted(words, key=lambda p: p[0])]

    def expansions(self, token: str) -> tuple[str, ...]:
        """Catalog words (spaced scripts) holding ``token`` inside them, most frequent first,
        capped; none for a short token, a number or a token the catalog holds itself."""
        if self.max_expansions == 0 or len(token) < self.min_length or not is_word(token):
            return ()
        if self._catalog_words is None:
            self._catalog_words = "\n".join(t for t in self.bm25.vocabulary if is_word(t))
        text, found = self._catalog_words, set()
        at = text.find(token)
        while at >= 0:  # each catalog word (line) holding it: str.find, no regex backtracking
            start, end = text.rfind("\n", 0, at) + 1, text.find("\n", at)
            end = len(text) if end < 0 else end
            found.add(text[start:end])
            at = text.find(token, end)
        found.discard(token)
        vocab = self.bm25.vocabulary
        return tuple(sorted(found, key=lambda t: (-self._df[vocab[t]], t))[: self.max_expansions])

    # ---- products holding them ---------------------------------------------------------
    def held(self, words: QueryWords, product_ids: np.ndarray) -> np.ndarray:
        """(products, words) booleans: whether each product's text holds each word, or one of
        the synonym terms standing for it (False for a product the index does not know)."""
        rows = self._rows.rows(np.asarray(product_ids, dtype=np.int64))
        out = np.zeros((len(rows), len(words.words)), dtype=bool)
        for k, word in enumerate(words.words):
            if word.products == 0:
                continue
            held = rows >= 0
            if all(word.parts):
                for part in word.parts:
                    held &= in_sorted(rows, [self._column_rows(j) for j in part])
            else:  # no product holds the word as typed: only its synonyms can
                held = np.zeros(len(rows), dtype=bool)
            if word.synonyms:
                terms = [r for r in map(self._term_rows_kept, word.synonyms) if r is not None]
                held |= (rows >= 0) & in_sorted(rows, terms)
            out[:, k] = held
        return out

    def _plain(self, query: str, words: QueryWords) -> bool:
        """Whether each query token is a whole word's only column (no character of a longer
        Chinese word, no sub-word match): then BM25's own hits are the products holding a word."""
        single = {w.parts[0][0] for w in words.words if len(w.parts) == 1 and len(w.parts[0]) == 1}
        simple = all(not w.inside and (len(w.parts) == 1 and len(w.parts[0]) <= 1) for w in words.words)
        return simple and set(self.tokens(query).tolist()) == single

    def lexical(self, query: str, k: int, rewrite: Any = None,
                synonym_weight: float = SYNONYM_WEIGHT) -> tuple[np.ndarray, np.ndarray]:
        """BM25's top ``k`` among products holding at least one query word (ids, scores): a
        sub-word match adds ``weight`` of its BM25 weight; one shared character of a longer
        word recalls nothing. ``rewrite`` (a :class:`~ranking.merchandising.synonym_index.QueryRewrite`)
        adds the operator's synonym terms as alternatives of the words they stand for
        (:meth:`scores`). Kept per (query, rewrite, ``k``, weight) for the last
        ``recall.search_results_kept`` of them (read-only arrays): at 1M products a query's
        scoring touches hundreds of thousands of postings, the same for every repeat."""
        return self._kept.kept(_lexical_key(query, k, rewrite, synonym_weight),
                               lambda: read_only(self._lexical(query, k, rewrite, synonym_weight)))

    def _lexical(self, query: str, k: int, rewrite: Any,
                 synonym_weight: float) -> tuple[np.ndarray, np.ndarray]:
        words = self.words(query)
        if not rewrite and self._plain(query, words):  # every token a whole catalog word: BM25 as it was
            return self.bm25.search(query, k, self.tokens(query))
        matches = [self._match_parts(a, synonym_weight) for a in (rewrite.alternatives if rewrite else ())]
        found = self._union_scores(query, words, rewrite, synonym_weight, matches)
        if found is None:  # the catalog-long sums are cheaper
            found = ranked_rows(*self._scores(query, rewrite, synonym_weight, matches), k)
        hits, s = found
        order = top_rows(s, hits, self.bm25.product_ids, k)
        return self.bm25.product_ids[hits[order]], s[order]

    def _union_scores(self, query: str, words: QueryWords, rewrite: Any, synonym_weight: float,
                      matches: list) -> tuple[np.ndarray, np.ndarray] | None:
        """(rows, scores) of the rows :meth:`scores` recalls with a positive score, ascending: what
        ``flatnonzero(hit & (s > 0))`` and ``s`` there give, scored only at the sorted union of the
        rows holding a typed word and each synonym match's rows, with the same float32 additions in
        the same order row by row (so :func:`top_rows` ranks the same input); None when the
        catalog-long sums cost less (:meth:`_sparse_cheaper`)."""
        alternatives = rewrite.alternatives if rewrite else ()
        plain = self._plain(query, words)
        held = [r for _, got, terms in matches for r in (got[:1] if got else [t[0] for t in terms])]
        typed = self._df[self.tokens(query)].sum() if plain else sum(w.products for w in words.words)
        columns = self._score_columns(query, words) + [
            j for a, (_, got, _) in zip(alternatives, matches, strict=True) if got is None and a.text != query
            for j in self._score_columns(a.text, self.words(a.text))]
        if not self._sparse_cheaper(columns, int(typed) + sum(len(r) for r in held)):  # at most the union's
            return None
        rows = self._typed_rows(query, words, plain) + held
        kind = self.bm25.weights.indices.dtype  # the postings' (a search of them casts nothing)
        union = sorted_union([r.astype(kind, copy=False) for r in rows]) if rows else np.zeros(0, kind)
        s = self._text_scores_at(query, words, union)  # every row of the union is recalled (holds a
        # word, or a match's term, or for a plain query a token, where a row holds a word iff it scores)
        own = True  # s is still the typed text's own score (no match has added to it yet)
        for alternative, (key, got, terms) in zip(alternatives, matches, strict=True):
            if got is None:
                got = self._matches.put(key, read_only(
                    self._match_at(alternative, query, own, union, s, terms, synonym_weight)))
            if not got:
                continue
            at = np.searchsorted(union, got[0].astype(kind))
            s[at] = s[at] + got[1]
            own = False
        keep = s > 0
        return union[keep], s[keep]

    def _typed_rows(self, query: str, words: QueryWords, plain: bool) -> list[np.ndarray]:
        """Sorted rows that may hold a typed word: each word's (:meth:`_word_rows`), or for a plain
        query (a product holds a word iff it scores) each token's postings."""
        if plain:
            return [self._column_rows(j) for j in self.tokens(query)]
        return [self._word_rows(w) for w in words.words if w.products]

    def _score_columns(self, text: str, words: QueryWords) -> list[int]:
        """The index columns :meth:`_text_scores` sums for ``text``: its tokens, then its sub-word
        matches'."""
        return [*self.tokens(text).tolist(),
                *(j for w in words.words if w.inside and w.products for j in w.parts[0])]

    def _sparse_cheaper(self, columns: list[int], rows: int) -> bool:
        """Whether summing ``columns`` at ``rows`` rows by binary search (each the shorter of the
        rows and the column's postings searched in the longer) costs less than the catalog-long
        sums: :data:`SPARSE_COST` per row searched, against a row per catalog product and posting."""
        if not self._postings_canonical:
            return False
        df = self._df[np.asarray(columns, dtype=np.intp)]
        searched = int(np.minimum(df, rows).sum()) + rows
        return SPARSE_COST * searched < len(self.bm25.product_ids) + int(df.sum())

    def _match_parts(self, alternative: Any, synonym_weight: float) -> tuple[tuple, Any, list]:
        """(memo key, the kept (rows, adds) or () or None when not kept, and then its held terms'
        (rows, scores)) of one synonym match."""
        key = (alternative.text, alternative.terms, synonym_weight)
        got = self._matches.get(key)
        terms = [] if got is not None else [t for t in map(self._term, alternative.terms) if t is not None]
        return key, got, terms

    def _match_at(self, alternative: Any, query: str, typed: bool, union: np.ndarray, s: np.ndarray,
                  terms: list, synonym_weight: float) -> tuple:
        """:meth:`_match` with the scores ``s`` at the sorted ``union`` of rows (holding every term's
        rows) instead of catalog-long: the same rows and values."""
        if not terms:
            return ()
        best = np.zeros(len(union), dtype=s.dtype)
        held = []
        for rows, term_scores in terms:
            rows = rows.astype(np.intp)
            at = np.searchsorted(union, rows.astype(union.dtype))
            best[at] = np.maximum(best[at], synonym_weight * term_scores)
            held.append(rows)
        rows = np.concatenate(held)  # a row twice gets the same value twice, as in _match
        at = np.searchsorted(union, rows.astype(union.dtype))
        own = s[at] if typed and alternative.text == query else \
            self._text_scores_at(alternative.text, self.words(alternative.text), union, columns=True)[at]
        return rows, np.maximum(best[at] - own, 0)

    def _text_scores_at(self, text: str, words: QueryWords, rows: np.ndarray,
                        columns: bool = False) -> np.ndarray:
        """``_text_scores(text, words, columns)[rows]`` for sorted distinct ``rows``, summed at those
        rows only: each column's postings there (:func:`common`) added in the same order, so each
        row gets the same float32 additions."""
        w = self.bm25.weights
        tokens = self.tokens(text)
        out = np.zeros(len(rows), dtype=w.dtype if columns or len(tokens) else np.float32)
        for j in tokens:
            lo, hi = w.indptr[j], w.indptr[j + 1]
            at, idx = common(rows, w.indices[lo:hi])
            out[at] += w.data[lo:hi][idx]
        for word in words.words:
            for j in (word.parts[0] if word.inside and word.products else ()):
                lo, hi = w.indptr[j], w.indptr[j + 1]
                at, idx = common(rows, w.indices[lo:hi])
                out[at] += self.weight * w.data[lo:hi][idx]
        return out

    def _text_scores(self, text: str, words: QueryWords, columns: bool = False,
                     into: np.ndarray | None = None) -> np.ndarray:
        """Per index row: BM25 of ``text`` plus ``weight`` of its sub-word matches; ``columns``:
        summed column by column in numpy (a synonym term: scipy's fancy indexing costs about
        0.3 ms a call, a term's few postings far less); ``into``: a zeroed array of the index's
        dtype to sum in (``columns`` only)."""
        w, distinct = self.bm25.weights, self._postings_canonical
        if columns:
            s = np.zeros(len(self.bm25.product_ids), dtype=w.dtype) if into is None else into
            for j in self.tokens(text):
                lo, hi = w.indptr[j], w.indptr[j + 1]
                add_postings(s, w.indices[lo:hi], w.data[lo:hi], distinct)
        else:
            s = self.bm25.scores(text, self.tokens(text))
        for word in words.words:
            for j in (word.parts[0] if word.inside and word.products else ()):
                lo, hi = w.indptr[j], w.indptr[j + 1]
                add_postings(s, w.indices[lo:hi], self.weight * w.data[lo:hi], distinct)
        return s

    def _typed_scores(self, query: str, words: QueryWords) -> tuple[np.ndarray, np.ndarray]:
        """(BM25 with sub-word matches, holds a word) per index row, for the words as typed."""
        if self._plain(query, words):  # every token a whole word: a product holds one iff it scores
            s = self.bm25.scores(query, self.tokens(query))
            return s, s > 0
        hit = np.zeros(len(self.bm25.product_ids), dtype=bool)
        for word in words.words:
            if word.products and self._postings_canonical:  # its rows marked: no mask of its own
                hit[self._word_rows(word)] = True
            elif word.products:
                hit |= self._mask(word.parts)
        return self._text_scores(query, words), hit

    def scores(self, query: str, rewrite: Any = None,
               synonym_weight: float = SYNONYM_WEIGHT) -> tuple[np.ndarray, np.ndarray]:
        """(lexical score, recalled) per index row. With a ``rewrite`` each match's words
        score the larger of their own BM25 and ``synonym_weight`` times the best synonym
        term's (a term counts for a product holding all its words): a title with "手机" answers
        "phone case" through the synonym, a title holding both is not counted twice. A term
        no product holds costs a cached lookup; one some do, one sparse column sum."""
        return self._scores(query, rewrite, synonym_weight, None)

    def _scores(self, query: str, rewrite: Any, synonym_weight: float,
                matches: list | None) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`scores`; ``matches``: each alternative's :meth:`_match_parts` when the caller
        has them (its terms already read)."""
        s, hit = self._typed_scores(query, self.words(query))
        typed = True  # s is still the typed text's own score (no match has added to it yet)
        alternatives = rewrite.alternatives if rewrite else ()
        for alternative, parts in zip(alternatives, matches or [None] * len(alternatives), strict=True):
            key, got, terms = parts or (None, None, None)
            if parts is None:
                key = (alternative.text, alternative.terms, synonym_weight)
                got = self._matches.get(key)
            if got is None:
                made = self._match(alternative, query, typed, s, synonym_weight, terms)
                got = self._matches.put(key, read_only(made))
            if not got:
                continue
            rows, adds = got
            s[rows] = s[rows] + adds
            hit[rows] = True
            typed = False
        return s, hit

    def _match(self, alternative: Any, query: str, typed: bool, s: np.ndarray,
               synonym_weight: float, terms: list | None = None) -> tuple:
        """(rows, what the match adds to the score there) of one synonym match, () when no product
        holds any of its terms: at each row holding a term, by how much ``synonym_weight`` times
        the best term's score beats the match's words' own. It depends on the match's words and
        terms and the weight only (this index never changes in place), so :meth:`scores` keeps it
        (the operator's sets give a word the same terms in every query). ``terms``: its held
        terms' (rows, scores) (:meth:`_term`) when the caller has read them."""
        if terms is None:
            terms = [t for t in map(self._term, alternative.terms) if t is not None]
        if len(terms) == 1:  # one term held: the best is its own score, at its rows (no catalog-long best)
            rows, term_scores = terms[0]
            rows = rows.astype(np.intp)
            best = np.maximum(np.zeros(len(rows), s.dtype), synonym_weight * term_scores).astype(s.dtype)
            return rows, np.maximum(best - self._own(alternative.text, query, typed, s, rows), 0)
        if not terms:
            return ()
        best = self._scratch.take() if s.dtype == self._scratch.dtype else np.zeros(len(s), s.dtype)
        held = []
        for rows, term_scores in terms:
            rows = rows.astype(np.intp)  # indexed three times here: converted once
            if self._postings_canonical:  # a term's rows distinct: the same maximum per row, about
                np.maximum.at(best, rows, synonym_weight * term_scores)  # half the gather and scatter
            else:
                best[rows] = np.maximum(best[rows], synonym_weight * term_scores)
            held.append(rows)
        rows = np.concatenate(held)  # a row twice gets the same value twice: no unique needed
        got = best[rows]
        if best.dtype == self._scratch.dtype:  # zeros again where the terms wrote, and lent on
            reset(best, held)
            self._scratch.give(best)
        got -= self._own(alternative.text, query, typed, s, rows)
        return rows, np.maximum(got, 0, out=got)

    def _own(self, text: str, query: str, typed: bool, s: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """A match's words' own score at ``rows``: when the match is the whole query and no
        match has added to the scores ``s`` yet, the typed scores there: the same column sums in
        the same order, and the same sub-word additions (:meth:`_typed_scores`); else summed
        anew over the catalog."""
        if typed and text == query:
            return s[rows]
        return self._text_scores_lent(text, self.words(text), rows)

    def _text_scores_lent(self, text: str, words: QueryWords, rows: np.ndarray) -> np.ndarray:
        """``_text_scores(text, words, columns=True)[rows]``, summed in this thread's lent zeroed
        array (:class:`~ranking.recall.zero_scratch.ZeroScratch`) instead of a fresh one: the same
        additions into the same zeros, set back to zero at the postings added before it is lent on."""
        w = self.bm25.weights
        if w.dtype != self._scratch.dtype:
            return self._text_scores(text, words, columns=True)[rows]
        s = self._scratch.take()
        self._text_scores(text, words, columns=True, into=s)
        got = s[rows]
        reset(s, [w.indices[w.indptr[j]:w.indptr[j + 1]] for j in self._score_columns(text, words)])
        self._scratch.give(s)
        return got

    # ---- the operator's synonyms (ranking.merchandising.synonym_index) -----------------
    def _word_rows(self, word: QueryWord) -> np.ndarray:
        """Sorted index rows of the products holding ``word`` as typed (one column of each part)."""
        if len(word.parts) > 1 and self._postings_canonical and all(word.parts):
            return self._held_rows(word.parts)  # the same rows, without a sort per part
        out: np.ndarray | None = None
        for part in word.parts:
            if not part:
                return np.zeros(0, dtype=np.int64)
            rows = self._column_rows(part[0]) if len(part) == 1 else \
                sorted_union([self._column_rows(j) for j in part])
            out = rows if out is None else np.intersect1d(out, rows, assume_unique=True)
        return out if out is not None else np.zeros(0, dtype=np.int64)

    def _term_rows(self, term: str) -> np.ndarray | None:
        """Sorted index rows of the products holding every content word of ``term`` (None when
        no product does)."""
        content = self.words(term).content
        if not content or any(w.products == 0 for w in content):
            return None
        rows = self._word_rows(content[0])
        for word in content[1:]:
            rows = np.intersect1d(rows, self._word_rows(word), assume_unique=True)
        return rows if len(rows) else None

    def _term(self, term: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(:meth:`_term_rows`, :meth:`_term_scores` at those rows) of ``term``, None when no
        product holds it: from the table of the book's terms when it holds ``term``
        (:meth:`hold_terms`: the same bits, whichever book the rewrite came from); else kept (read-only) for
        ``recall.synonym_terms_kept`` terms of at most :data:`TERM_ROWS_KEPT` rows and larger ones up
        to ``recall.synonym_large_terms_mb``, oldest out: neither depends on the query, and this
        index never changes in place (a new one gets a new matcher)."""
        got = self._term_kept(term)
        if got is None:
            got = self._term_made(term)
            if not got or len(got[0]) <= TERM_ROWS_KEPT:
                self._terms.put(term, got)
            else:
                self._large_terms.put(term, got)
        return got or None

    def _term_kept(self, term: str) -> tuple | None:
        """``term``'s (rows, scores) or () as held for the book (:meth:`hold_terms`) or kept by an
        earlier query (small terms, then large ones); None when neither has it."""
        held = self._held
        got = held.table.get(term) if held is not None else None
        if got is None:
            got = self._terms.get(term)
        if got is None:
            got = self._large_terms.get(term)
        return got

    def _term_made(self, term: str) -> tuple:
        """``term``'s (rows, scores), read-only, or () when no product holds it: what :meth:`_term`
        keeps and :meth:`hold_terms` holds."""
        rows = self._term_rows(term)
        return read_only(() if rows is None else (rows, self._term_scores(term, rows)))

    def hold_book_terms(self, index: Any, merchandising: Any,
                        current: Any = lambda: True) -> HeldTerms | None:
        """:meth:`hold_terms` bounded and paced as ``merchandising`` (a MerchandisingSettings) says
        (``synonym_terms_held_mb``, ``synonym_terms_slice_ms``): the service's follower and the
        benches hold a book's terms the one way."""
        return self.hold_terms(index, int(merchandising.synonym_terms_held_mb * (1 << 20)),
                               merchandising.synonym_terms_slice_ms / 1000.0, current)

    def hold_terms(self, index: Any, max_bytes: int, slice_s: float,
                   current: Any = lambda: True) -> HeldTerms | None:
        """Compute every term the synonym book ``index`` (a SynonymIndex; None: drop the table) can
        add, once, and hold them for the pages' rewrites of that index
        (:mod:`ranking.recall.held_terms`: up to ``max_bytes``, ``slice_s`` of work at a time,
        abandoned once ``current()`` is false). Run by the merchandising follower's thread, never a
        page's; a table already of ``index`` is kept as it is. Its own caches of the terms' words
        and tokens (:data:`HOLD_CACHE`), so the pages' stay as they were."""
        held = self._held
        if index is None or max_bytes <= 0:
            self._held = None
            return None
        if held is not None and held.index is index:
            return held
        worker = copy.copy(self)  # the same index, scratch-free paths, caches of its own
        worker.words = lru_cache(maxsize=HOLD_CACHE)(worker._words)
        worker.tokens = lru_cache(maxsize=HOLD_CACHE)(worker._tokens)
        made = build_held_terms(index, index.added_terms(), worker._term_made, max_bytes, slice_s, current)
        if made is not None:
            self._held = made  # one assignment: pages read the old table or the new one whole
        return made

    def _term_rows_kept(self, term: str) -> np.ndarray | None:
        """:meth:`_term_rows`, read from the held table or :meth:`_term`'s kept values when there
        (nothing kept here)."""
        got = self._term_kept(term)
        if got is None:
            return self._term_rows(term)
        return got[0] if got else None

    def _term_scores(self, term: str, rows: np.ndarray) -> np.ndarray:
        """The lexical score of ``term`` at the index ``rows`` holding it (:meth:`_term_rows`): a
        term of one whole-word token is that column's postings as they are."""
        w = self.bm25.weights
        words = self.words(term)
        tokens = self.tokens(term)
        if len(tokens) == 1 and len(words.words) == 1 and not words.words[0].inside:
            lo, hi = w.indptr[tokens[0]], w.indptr[tokens[0] + 1]
            if hi - lo == len(rows):  # the rows are the column's postings
                return w.data[lo:hi]
        if self._sparse_cheaper(self._score_columns(term, words), len(rows)):
            return self._text_scores_at(term, words, rows, columns=True)
        return self._text_scores(term, words, columns=True)[rows]

    def _holding_any(self, terms: tuple[str, ...], word: QueryWord) -> int:
        """Products holding one of ``terms`` or ``word`` as typed: :func:`held_count` of their
        sorted rows (a first-time query's page marked a catalog-long mask per word and summed its
        booleans as integers)."""
        rows = [r for r in map(self._term_rows_kept, terms) if r is not None]
        if word.products:
            rows.append(self._word_rows(word))
        return held_count(rows, len(self.bm25.product_ids))

    def words_with(self, query: str, rewrite: Any = None) -> QueryWords:
        """The query's words with the synonym terms that stand for each (a word a match of
        ``rewrite`` covers): a product holding a term holds the word, so the word's product
        count and IDF, the strongest word and the notice count those products too. Kept as
        :meth:`lexical` keeps its recall."""
        words = self.words(query)
        if not rewrite:
            return words
        return self._kept.kept(("words_with", query, rewrite_key(rewrite)),
                               lambda: self._words_with(words, rewrite))

    def _words_with(self, words: QueryWords, rewrite: Any) -> QueryWords:
        """:meth:`words_with`, made: each word with its terms kept per (word, terms)."""
        out = []
        for word in words.words:
            covering = [a for a in rewrite.alternatives if a.covers(word.text)]
            terms = tuple(dict.fromkeys(t for a in covering for t in a.terms))
            if not terms:
                out.append(word)
                continue
            got = self._words_with_terms.get((word, terms))
            if got is None:
                df = self._holding_any(terms, word)
                got = self._words_with_terms.put((word, terms), replace(
                    word, products=df, idf=_idf(len(self.bm25.product_ids), df), synonyms=terms))
            out.append(got)
        return QueryWords(tuple(out))
