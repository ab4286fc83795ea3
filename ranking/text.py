"""Text normalisation shared by queries, titles and their ids.

``normalise`` folds full-width characters (NFKC), case and runs of white space, so a
query typed twice in different shapes is one query. ``query_id`` is a stable 53-bit id
of the normalised text (BLAKE2b), the same in the simulator, training and the service;
53 bits so it survives a float64 round trip exactly (pandas turns a nullable int
column into float64).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """NFKC-fold, lower-case and collapse white space."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


def query_id(text: str) -> int:
    """Stable non-negative id (< 2**53) of a query's normalised text."""
    digest = hashlib.blake2b(normalise(text).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 53) - 1)
