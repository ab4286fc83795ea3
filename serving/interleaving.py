"""Team-draft interleaving of two variants' pages into the one page a shopper sees.

An interleaving experiment (``mode = "interleave"``, ``docs/experiments.md``) ranks the
request with both arms, merges their pages with :func:`ranking.experiments.team_draft`
(seeded by the request id), and marks each card with the ``team`` that contributed it
and whether both pages held it (``shared``: its clicks and orders credit neither arm).
"""

from __future__ import annotations

import numpy as np

from ranking.engine import RankedPage
from ranking.experiments import team_draft
from ranking.pipeline import RankRequest
from serving.routing import Plan


def interleave(plan: Plan, pipeline: str, request: RankRequest) -> tuple[RankedPage, str]:
    """The merged page and the bundle version it names (``a+b`` when the arms' bundles differ)."""
    a, b = plan.interleave
    pages = (a.engine.rank(pipeline, request, a.rules), b.engine.rank(pipeline, request, b.rules))
    rng = np.random.default_rng(request.seed)
    ids, team = team_draft(np.array([c["product_id"] for c in pages[0].cards], dtype=np.int64),
                           np.array([c["product_id"] for c in pages[1].cards], dtype=np.int64),
                           request.page_size, rng)
    picks = list(zip(ids.tolist(), team.tolist(), strict=True))
    by_id = [{c["product_id"]: c for c in page.cards} for page in pages]
    shared = by_id[0].keys() & by_id[1].keys()
    cards = []
    for position, (pid, t) in enumerate(picks, start=1):
        card = dict(by_id[t][pid])
        card["position"] = position
        card["team"] = (a.name, b.name)[t]
        card["shared"] = pid in shared
        cards.append(card)
    kept = {c["product_id"] for c in cards}
    dropped = [d for d in pages[0].dropped if d["reason"] == "duplicate" or d["product_id"] not in kept]
    timings = {k: pages[0].timings.get(k, 0) + pages[1].timings.get(k, 0) for k in pages[0].timings}
    version = a.engine.version if a.engine is b.engine else f"{a.engine.version}+{b.engine.version}"
    merged = RankedPage(cards, dropped, timings, pages[0].recalled + pages[1].recalled,
                        _text_matched(pages, picks), query_words=pages[0].words_counted_on(cards),
                        notice=pages[0].notice, rules_applied=pages[0].rules_applied,
                        redirect=pages[0].redirect)
    return merged, version


def _text_matched(pages: tuple[RankedPage, RankedPage], picks: list[tuple[int, int]]) -> list[bool] | None:
    """Each picked card's text match as the arm that contributed it said (None off search)."""
    if pages[0].text_matched is None or pages[1].text_matched is None:
        return None
    matched = [{c["product_id"]: m for c, m in zip(page.cards, page.text_matched, strict=True)}
               for page in pages]
    return [matched[t][pid] for pid, t in picks]
