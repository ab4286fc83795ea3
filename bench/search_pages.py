"""The first search page for the README's queries and the issue-27 ones, on one bundle.

``python -m bench.search_pages BUNDLE --out FILE.json`` loads the bundle (read only) as the
service does, corrects each query's spelling as ``/v1/search`` does, ranks a 20-card page
and records what the page says: how many cards, how many a lexical source proposed,
``text_match``, the notice, the query words, the first titles, each card's matched words
and how many candidates the relevance floor dropped. Fields a bundle's code does not have
(run on an older checkout for a before/after) are recorded as null.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ranking.engine import Engine
from ranking.pipeline import RankRequest
from ranking.settings import load_settings

QUERIES = ("大米", "cordless drill", "cookign oil", "shouji", "平板電腦", "电钻", "华为", "phone")


def page_of(engine: Engine, query: str) -> dict:
    """What the first 20-card search page for ``query`` says (seed 7, hour 12, no shopper)."""
    fixed = engine.correct_query(query)
    request = RankRequest(surface="search", page_size=20, now_ms=engine.snapshot.as_of_ms, hour=12,
                          user_id=None, query=fixed.text, seed=7)
    page = engine.rank("search", request)
    notice = getattr(page, "notice", None)
    return {
        "searched": fixed.text, "cards": len(page.cards), "text_match": page.text_match,
        "lexical_cards": sum("lexical" in c["sources"] for c in page.cards),
        "notice": notice["message"] if notice else None,
        "query_words": getattr(page, "query_words", None),
        "first_titles": [c["title"] for c in page.cards[:4]],
        "matched_words_first": [c.get("matched_words") for c in page.cards[:4]],
        "floor_drops": sum(d["reason"] == "below_relevance_floor" for d in page.dropped),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    engine = Engine.load(args.bundle, load_settings([]))
    pages = {q: page_of(engine, q) for q in QUERIES}
    args.out.write_text(json.dumps(pages, ensure_ascii=False, indent=1))
    for query, page in pages.items():
        print(json.dumps({query: page}, ensure_ascii=False))


if __name__ == "__main__":
    main()
