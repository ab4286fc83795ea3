"""The operator's rules through the real engine (the small mall's bundle): a page without rules is
unchanged, a pin recall did not bring is placed with its explanation, a banned pin is not shown
and is reported, hide / filter / bury / redirect act and the page lists the rules applied."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ranking.engine import Engine
from ranking.merchandising.book import MerchandisingBook
from ranking.merchandising.problems import rule_problems
from ranking.merchandising.rule import Rule
from ranking.pipeline import RankRequest
from ranking.settings import load_settings


@pytest.fixture(scope="module")
def engine(small_models: Path):
    eng = Engine.load(small_models / "latest", load_settings([]))
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def word(engine: Engine) -> str:
    titles = engine.catalog.titles_of(engine.snapshot.products.ids[:300])
    return Counter(w for t in titles for w in str(t).lower().split() if len(w) > 2).most_common(1)[0][0]


def rule(id: str, action: dict, match: dict, **kw) -> Rule:
    return Rule.model_validate({"match": match, "action": action, "reason": f"reason {id}", "id": id, **kw})


def rank(engine: Engine, surface: str, word: str, book=None, **kw):
    request = RankRequest(surface=surface, page_size=10, now_ms=engine.snapshot.as_of_ms, hour=9,
                          user_id=int(engine.snapshot.users.ids[0]), explain=True, merchandising=book,
                          query=word if surface == "search" else None, **kw)
    return engine.rank(surface, request)


def showable_not_on(engine: Engine, page, word: str) -> int:
    """A product the mall can show whose title lacks ``word`` and which is not on ``page``."""
    snap = engine.snapshot
    cols = snap.products.columns
    on_page = {c["product_id"] for c in page.cards}
    titles = engine.catalog.titles_of(snap.products.ids)
    store_banned = cols.get("store_banned", np.zeros(len(snap.products.ids)))
    for i, pid in enumerate(snap.products.ids.tolist()):
        if (pid not in on_page and word not in str(titles[i]).lower() and cols["stock"][i] > 0
                and cols["banned"][i] == 0 and store_banned[i] == 0):
            return pid
    raise AssertionError("no such product")


@pytest.mark.parametrize("surface", ["search", "homepage"])
def test_no_book_an_empty_book_or_rules_that_do_not_match_change_nothing(engine, word, surface):
    base = rank(engine, surface, word)
    elsewhere = MerchandisingBook((rule("other", {"hide": [int(engine.snapshot.products.ids[0])]},
                                        {"query": "zzzz nothing"}),
                                   rule("channel", {"pin": [int(engine.snapshot.products.ids[1])]},
                                        {"surface": "channel"})))
    for book in (MerchandisingBook(), elsewhere):
        page = rank(engine, surface, word, book)
        assert page.cards == base.cards and page.dropped == base.dropped
        assert page.rules_applied == [] and page.redirect is None


@pytest.mark.parametrize("surface", ["search", "homepage"])
def test_a_pin_recall_did_not_bring_is_placed_with_its_explanation(engine, word, surface):
    base = rank(engine, surface, word)
    pid = showable_not_on(engine, base, word)
    match = {"query": word} if surface == "search" else {"homepage": True}
    page = rank(engine, surface, word, MerchandisingBook((rule("r1", {"pin": [pid], "at": [2]}, match),)))
    card = page.cards[1]
    assert card["product_id"] == pid and "pinned" in card["sources"]
    assert isinstance(card["model_score"], float)  # scored like any candidate
    notes = card["explanation"]["rules"]
    assert {"rule": "merch_pin", "rule_id": "r1", "position": 2, "why": "reason r1"}.items() <= \
        next(n for n in notes if n["rule"] == "merch_pin").items()
    assert next(n for n in notes if n["rule"] == "merch_pin")["label"] == "pinned by the operator"
    assert page.cards[0]["product_id"] == base.cards[0]["product_id"]
    below = page.cards[2]["explanation"]["rules"]
    assert any(n["rule"] == "merch_pinned_above" and n["rule_ids"] == ["r1"] for n in below)
    assert page.rules_applied == ["r1"]


def test_a_banned_pin_is_not_shown_and_the_page_says_why(engine, word, monkeypatch):
    base = rank(engine, "search", word)
    pid = showable_not_on(engine, base, word)
    banned = engine.snapshot.products.columns["banned"].copy()
    banned[engine.snapshot.products.rows(np.array([pid]))[0]] = 1
    monkeypatch.setitem(engine.snapshot.products.columns, "banned", banned)
    page = rank(engine, "search", word, MerchandisingBook((rule("r1", {"pin": [pid]}, {"query": word}),)))
    assert pid not in [c["product_id"] for c in page.cards]
    assert {"product_id": pid, "reason": "banned", "stage": "governance"} in page.dropped
    assert {"product_id": pid, "reason": "rule_pin:r1:banned", "stage": "merchandising"} in page.dropped
    assert [c["product_id"] for c in page.cards] == [c["product_id"] for c in base.cards]
    assert page.rules_applied == []


def test_hide_filter_bury_and_redirect_through_the_engine(engine, word):
    base = rank(engine, "search", word)
    first, second = base.cards[0]["product_id"], base.cards[1]["product_id"]
    page = rank(engine, "search", word, MerchandisingBook((rule("h", {"hide": [first]}, {"query": word}),)))
    assert first not in [c["product_id"] for c in page.cards]
    assert {"product_id": first, "reason": "rule_hide:h", "stage": "merchandising"} in page.dropped
    bury = rule("b", {"bury": {"target": {"product_ids": [second]}, "by": 100}}, {"contains": word})
    page = rank(engine, "search", word, MerchandisingBook((bury,)))
    assert second not in [c["product_id"] for c in page.cards] and page.rules_applied == ["b"]
    products = engine.snapshot.products
    leaf = int(products.take("category_id", products.rows(np.array([first])))[0])
    only = rule("f", {"filter": {"category_id": leaf}}, {"query": word})
    redirect = rule("go", {"redirect": {"channel": "/campaign"}}, {"query": word})
    page = rank(engine, "search", word, MerchandisingBook((only, redirect)))
    leaves = engine.snapshot.products.take("category_id", engine.snapshot.products.rows(
        np.array([c["product_id"] for c in page.cards])))
    assert page.cards and set(leaves.astype(int)) == {leaf}
    assert all(any(n["rule"] == "merch_filter" for n in c["explanation"]["rules"]) for c in page.cards)
    assert any(d["reason"] == "rule_filter:f" for d in page.dropped)
    assert page.redirect == {"rule_id": "go", "channel": "/campaign"} and page.rules_applied == ["f", "go"]


def test_a_boost_moves_a_card_up_and_says_by_how_much(engine, word):
    base = rank(engine, "search", word)
    last = base.cards[-1]["product_id"]
    boost = rule("up", {"boost": {"target": {"product_ids": [last]}, "by": 50}}, {"query": word})
    page = rank(engine, "search", word, MerchandisingBook((boost,)))
    assert page.cards[0]["product_id"] == last
    note = next(n for n in page.cards[0]["explanation"]["rules"] if n["rule"] == "merch_boost")
    assert note["delta"] == 50 and note["rule_id"] == "up"
    assert page.cards[0]["score"] >= page.cards[0]["model_score"] + 49  # the move is in the ranking score


def test_rule_problems_read_the_engines_catalog(engine, word, monkeypatch):
    base = rank(engine, "search", word)
    pid = showable_not_on(engine, base, word)
    pin = rule("p", {"pin": [pid]}, {"query": word})
    assert rule_problems(pin, engine) == []
    stock = engine.snapshot.products.columns["stock"].copy()
    stock[engine.snapshot.products.rows(np.array([pid]))[0]] = 0
    monkeypatch.setitem(engine.snapshot.products.columns, "stock", stock)
    assert rule_problems(pin, engine) == [
        f"pin: product {pid} is sold out: it would not show until restocked"]
    unknown = int(engine.snapshot.products.ids.max()) + 1
    assert rule_problems(rule("u", {"pin": [unknown]}, {"query": word}), engine) == [
        f"pin: product {unknown} is not in the catalog"]


def test_a_rerank_pin_places_only_a_product_the_caller_gave(engine, word):
    ids = np.asarray(engine.snapshot.products.ids[:40], dtype=np.int64)
    cols = engine.snapshot.products.columns
    ok = [int(p) for i, p in enumerate(ids) if cols["stock"][i] > 0 and cols["banned"][i] == 0]
    given, outside = ok[5], int(engine.snapshot.products.ids[-1])
    book = MerchandisingBook((rule("r", {"pin": [outside, given]}, {"homepage": True}),))
    request = RankRequest(surface="homepage", page_size=10, now_ms=engine.snapshot.as_of_ms, hour=9,
                          candidates=np.asarray(ok, dtype=np.int64), merchandising=book)
    page = engine.rank("rerank", request)
    assert [c["product_id"] for c in page.cards][1] == given
    assert outside not in [c["product_id"] for c in page.cards]
    report = {"product_id": outside, "reason": "rule_pin:r:not_a_candidate", "stage": "merchandising"}
    assert report in page.dropped
