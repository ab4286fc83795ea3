"""The shelf spread: leaf category and brand caps in a sliding window, the surface's subsidy share,
relaxed only when nothing else is left, and each move explained."""

from __future__ import annotations

import numpy as np
import pytest
from rules_mall import rules_request, rules_snapshot

from ranking.pipeline.candidates import CandidateSet
from ranking.pipeline.columns import product_column
from ranking.pipeline.selector import Selector
from ranking.pipeline.selectors import window_caps
from ranking.pipeline.selectors.draft import PageDraft
from ranking.pipeline.selectors.window_caps import PageCaps, WindowCap
from ranking.settings import RulesSettings

SURFACES = ("homepage", "channel", "search")


def _mall(n: int = 60, leaves: int = 4, brands: int = 6, stores: int = 12):
    snap = rules_snapshot(n=n, stores=stores)
    cols = snap.products.columns
    cols["category_id"] = (10 + np.arange(n) // (n // leaves)).astype(np.float32)  # leaf blocks in id order
    cols["brand_id"] = (np.arange(n) % brands).astype(np.float32)
    snap.leaf_ids = np.unique(cols["category_id"]).astype(np.int64)
    return snap


def _scored(snap) -> CandidateSet:
    c = CandidateSet(snap.products.ids)
    c.scores = -np.arange(len(c), dtype=np.float64)  # score order = id order: leaf after leaf
    return c


def _rules(**kw) -> RulesSettings:
    base = {"exploration_slots": [], "store_diversity_max": 20, "spread_category_max": {},
            "spread_min_categories": {},
            "spread_brand_max": {}, "subsidy_share_max": {}, "traffic_policy": False}
    return RulesSettings(**{**base, **kw})


def _place(snap, rules, **request):
    c = _scored(snap)  # explained: the spread notes its held-back cards only for ``explain``
    placed = Selector(rules).place(c, rules_request(**{"explain": True, **request}), snap,
                                   np.random.default_rng(0))
    return c, placed.rows


def _column(snap, c, rows, name):
    return snap.products.take(name, snap.products.rows(c.product_ids[rows])).astype(int)


@pytest.mark.parametrize("most,window", [(2, 6), (3, 10), (1, 4)])
def test_the_category_cap_holds_in_every_window_and_the_waiting_cards_say_why(most, window):
    snap = _mall()
    rules = _rules(spread_category_max={"homepage": most}, spread_window={"homepage": window})
    c, rows = _place(snap, rules, surface="homepage", page_size=20)
    leaves = _column(snap, c, rows, "category_id")
    assert len(rows) == 20 and len(set(rows.tolist())) == 20
    for start in range(20):
        assert max(np.unique(leaves[start:start + window], return_counts=True)[1]) <= most
    # by score alone the page would hold only the first leaf; a full window needs this many
    assert len(set(leaves.tolist())) >= min(4, -(-window // most))
    notes = [n for r in rows for n in c.rule_notes[r] if n["rule"] == "category_spread"]
    assert notes and all(n["why"].startswith(f"at most {most} cards of category 1")
                         and n["why"].endswith(f" in any {window} consecutive slots") for n in notes)
    _, plain = _place(snap, _rules(), surface="homepage", page_size=20)
    assert list(plain) == list(range(20))  # caps off: score order


def test_one_category_pool_relaxes_the_category_cap_and_says_so():
    snap = _mall(n=30, leaves=1)
    rules = _rules(spread_category_max={"homepage": 2}, spread_window={"homepage": 10})
    c, rows = _place(snap, rules, surface="homepage", page_size=12)
    assert list(rows) == list(range(12))  # the page is filled, in score order
    relaxed = [n["why"] for r in rows for n in c.rule_notes[r] if n["rule"] == "category_spread"]
    assert relaxed and set(relaxed) == {"category spread relaxed: no candidate of another category left"}
    assert not c.rule_notes[0] and not c.rule_notes[1]  # the first two fit the cap


def test_search_keeps_its_category_by_default_and_spreads_brands():
    snap = _mall(n=60, leaves=1)
    brand = np.where(np.arange(60) < 40, 0, 1 + np.arange(60) % 4)  # one brand holds the best 40
    snap.products.columns["brand_id"] = brand.astype(np.float32)
    defaults = RulesSettings()
    assert defaults.spread_category_max["search"] == 0 and defaults.spread_brand_max["search"] > 0
    rules = _rules(spread_category_max=defaults.spread_category_max, spread_brand_max={"search": 3},
                   spread_window={"search": 10})
    c, rows = _place(snap, rules, surface="search", page_size=20)
    brands = _column(snap, c, rows, "brand_id")
    for start in range(20):
        assert np.bincount(brands[start:start + 10]).max() <= 3
    assert not any(n["rule"] == "category_spread" for r in rows for n in c.rule_notes[r])
    assert any(n["rule"] == "brand_spread" and "brand 0" in n["why"] for r in rows for n in c.rule_notes[r])


def test_a_page_not_explained_is_placed_the_same_and_makes_no_note():
    """The caps' notes (held back, relaxed) are made for an explained page only: no response field
    of a page not explained reads them; the explained page keeps every one."""
    snap = _mall(n=60, leaves=2)
    snap.products.columns["subsidy"][:20] = 1
    rules = _rules(spread_category_max={"homepage": 2}, spread_brand_max={"homepage": 2},
                   spread_window={"homepage": 6}, store_diversity_max=2, subsidy_share_max={"homepage": 0.3})
    c, rows = _place(snap, rules, surface="homepage", page_size=20)
    noted = {n["rule"] for r in rows for n in c.rule_notes[r]}
    assert noted == {"category_spread", "brand_spread"}
    assert any("relaxed" in n["why"] for r in rows for n in c.rule_notes[r])
    quiet = _scored(snap)
    placed = Selector(rules).place(quiet, rules_request(surface="homepage", page_size=20), snap,
                                   np.random.default_rng(0))
    np.testing.assert_array_equal(placed.rows, rows)
    assert not any(quiet.rule_notes)


def test_the_subsidy_share_follows_the_surface_policy_and_requested_slots_count():
    snap = _mall()
    snap.products.columns["subsidy"][:30] = 1  # the best half is all subsidised
    rules = _rules(subsidy_share_max={"homepage": 0.2, "search": 1.0})
    c, rows = _place(snap, rules, surface="homepage", page_size=10)
    subsidy = _column(snap, c, rows, "subsidy")
    assert subsidy.sum() == 2 and list(subsidy[:2]) == [1, 1]  # the best two, then the rest wait
    waited = [n["why"] for r in rows for n in c.rule_notes[r] if n["rule"] == "subsidy_share"]
    assert not waited  # the cards held back are not on the page; the ones shown were never held
    c, rows = _place(snap, rules, surface="homepage", page_size=10, subsidy_slots=(5, 6))
    assert _column(snap, c, rows, "subsidy").sum() == 2  # the requested slots took the share
    c, rows = _place(snap, rules, surface="search", page_size=10)
    assert _column(snap, c, rows, "subsidy").sum() == 10  # search's policy here: no cap


def test_a_subsidy_share_of_zero_gives_way_only_when_nothing_else_is_left():
    snap = _mall(n=12, leaves=1)
    snap.products.columns["subsidy"][:9] = 1
    c, rows = _place(snap, _rules(subsidy_share_max={"channel": 0.0}), surface="channel", page_size=6)
    assert list(rows[:3]) == [9, 10, 11]  # the unsubsidised first
    last = c.rule_notes[int(rows[3])]
    assert {n["rule"] for n in last} == {"subsidy_share"}
    assert "relaxed" in last[0]["why"]


def test_window_cap_blocks_exactly_the_keys_some_window_holds_full():
    rng = np.random.default_rng(4)
    for _ in range(200):
        n, size, window, most = 40, int(rng.integers(3, 16)), int(rng.integers(1, 8)), int(rng.integers(1, 4))
        keys = rng.integers(-1, 4, n)
        page = PageDraft(np.arange(n), np.zeros(n, dtype=np.int64), size)
        filled = rng.choice(size, int(rng.integers(0, size)), replace=False)
        for p, r in zip(filled, rng.permutation(n)[: len(filled)], strict=True):
            page.put(int(p), int(r))
        cap = WindowCap("x", keys, most, window, str, "relaxed")
        p = int(rng.choice(np.flatnonzero(page.slots < 0)))  # an open slot, as the filler asks
        rows = np.arange(n)
        got = cap.allows(page, rows, p)
        for r in rows:
            fits = keys[r] < 0 or all(
                sum(1 for q in page.slots[s:s + window] if q >= 0 and keys[q] == keys[r]) < most
                for s in range(max(0, p - window + 1), p + 1))
            assert got[r] == fits


def _random_page(rng: np.random.Generator, n: int, slots: tuple[int, int], keys: int, most: int, window: int,
                 caps: int) -> tuple[list[WindowCap], PageDraft, int]:
    """Random caps over ``n`` candidates (keys below ``keys``, -1 uncounted; at most below ``most``
    in windows below ``window``; 1 to ``caps`` - 1 caps), a page of a random size in ``slots``
    partly filled at random, and an empty slot of it."""
    size = int(rng.integers(*slots))
    made = [WindowCap(str(c), rng.integers(-1, keys, n), int(rng.integers(0, most)),
                      int(rng.integers(1, window)), str, "relaxed")
            for c in range(int(rng.integers(1, caps)))]
    page = PageDraft(np.arange(n), np.zeros(n, dtype=np.int64), size)
    filled = rng.choice(size, int(rng.integers(0, size)), replace=False)
    for p, r in zip(filled, rng.permutation(n)[: len(filled)], strict=True):
        page.put(int(p), int(r))
    return made, page, int(rng.choice(np.flatnonzero(page.slots < 0)))


def test_page_caps_first_fitting_is_the_first_card_every_cap_allows():
    rng = np.random.default_rng(7)
    for _ in range(200):
        caps, page, p = _random_page(rng, n=40, slots=(3, 16), keys=5, most=3, window=8, caps=4)
        rows = [int(r) for r in rng.permutation(40) if not page.used[r]]
        ok = np.all([cap.allows(page, np.array(rows), p) for cap in caps], axis=0)
        want = int(np.argmax(ok)) if ok.any() else -1
        assert PageCaps(page, caps).first_fitting(rows, p) == want


def test_page_caps_blocked_is_the_sliding_count_of_every_window_whatever_the_fill_order():
    """The page's slots per key give :meth:`WindowCap.blocked`'s sets (a sliding count over the
    slots around ``p``) on pages filled in any order, also after cards are put below the slot."""
    rng = np.random.default_rng(5)
    seen = 0
    for _ in range(300):
        caps, page, _p = _random_page(rng, n=40, slots=(3, 24), keys=4, most=4, window=9, caps=4)
        state = PageCaps(page, caps)
        free = [int(r) for r in rng.permutation(40) if not page.used[r]]
        for p in rng.permutation(page.size).tolist():  # slots in any order, filled ones too
            want = [cap.blocked([cap.key_list[r] if r >= 0 else -1 for r in page.slots.tolist()], p)
                    for cap in caps]
            assert state.blocked(p) == want
            seen += any(want)
            if page.slots[p] < 0 and free:
                state.put(p, free.pop())
    assert seen > 500  # most cases block some key


def test_page_caps_blocked_sets_are_the_slots_own_and_stay_as_they_were_read():
    """A slot's blocked sets are copies: a card put later blocks more keys at that slot without
    changing the sets read before (the filler keeps them to say which caps held a card back)."""
    cap = WindowCap("x", np.array([7, 7, 7, 3]), 2, 4, str, "relaxed")
    page = PageDraft(np.arange(4), np.zeros(4, dtype=np.int64), 6)
    state = PageCaps(page, [cap])
    state.put(0, 0)
    before = state.blocked(1)
    assert before == [set()]
    state.put(2, 1)  # two cards of key 7 within 4 slots: slot 1 may take no third
    assert state.blocked(1) == [{7}] and before == [set()]
    state.blocked(1)[0].add(3)
    assert state.blocked(1) == [{7}]


def test_page_caps_blocked_now_is_the_slots_live_sets_and_blocked_copies_them():
    """The filler reads a slot's sets as they are now (no copy per slot) and copies only those it
    keeps: ``blocked_now`` equals ``blocked`` until the next card is put, then shows what it blocked."""
    cap = WindowCap("x", np.array([7, 7, 7, 3]), 2, 4, str, "relaxed")
    page = PageDraft(np.arange(4), np.zeros(4, dtype=np.int64), 6)
    state = PageCaps(page, [cap])
    state.put(0, 0)
    now, copied = state.blocked_now(1), state.blocked(1)
    assert now == copied == [set()]
    state.put(2, 1)
    assert now == [{7}] and copied == [set()]  # the live set took the key the put blocked
    assert state.blocked_now(1) == state.blocked(1) == [{7}]


def _fill_by_sliding_counts(page: PageDraft, caps: list[WindowCap]) -> list[list[dict]]:
    """The filler the plain way: each slot's blocked keys by :meth:`WindowCap.blocked`, every card
    passed over noting that slot's sets, the relaxed card by scoring every card; the notes."""
    notes: list[list[dict]] = [[] for _ in page.stores]
    rows = [int(r) for r in page.order if not page.used[r]]
    passed: dict[int, list[list[set[int]]]] = {}
    for p in range(page.size):
        if page.slots[p] >= 0 or not rows:
            continue
        slot_keys = [[c.key_list[r] if r >= 0 else -1 for r in page.slots.tolist()] for c in caps]
        blocked = [c.blocked(k, p) for c, k in zip(caps, slot_keys, strict=True)]
        need = [max((c + 1 for c, b in enumerate(blocked) if caps[c].key_list[r] in b), default=0)
                for r in rows]
        i = need.index(min(need))
        for r in rows[:i]:
            passed.setdefault(r, []).append(blocked)
        row = rows.pop(i)
        page.put(p, row)
        broken = [c for c in range(need[i]) if caps[c].key_list[row] in blocked[c]]
        held = {c for b in passed.get(row, []) for c in range(len(caps)) if caps[c].key_list[row] in b[c]}
        notes[row] += [{"rule": caps[c].rule, "position": p + 1, "why": f"held {c}"}
                       for c in sorted(held - set(broken))]
        notes[row] += [{"rule": caps[c].rule, "position": p + 1, "why": "relaxed"} for c in broken]
    return notes


@pytest.mark.parametrize("head", [window_caps.HEAD_PER_SLOT, 0, 1])
def test_fill_in_order_places_and_notes_as_the_plain_sliding_count_filler(head, monkeypatch):
    """The slots each key holds, the live caps' scan and the passed-over cards looked up by rank
    place the same cards with the same notes as the plain filler, on pages partly filled first;
    also when the first cards made plain ints per slot (``head``) are too few and the rest join."""
    monkeypatch.setattr(window_caps, "HEAD_PER_SLOT", head)
    rng = np.random.default_rng(3)
    held = 0
    for _ in range(300):
        caps, page, _p = _random_page(rng, n=40, slots=(3, 24), keys=4, most=4, window=9, caps=4)
        for cap in caps:
            cap.held_why = lambda _key, c=cap.rule: f"held {c}"
        page.order = rng.permutation(40)
        plain = PageDraft(page.order, page.stores, page.size)
        for p, r in enumerate(page.slots.tolist()):
            if r >= 0:
                plain.put(p, r)
        quiet = PageDraft(page.order, page.stores, page.size)  # filled without notes (not explained)
        quiet.slots, quiet.used = page.slots.copy(), page.used.copy()
        c = CandidateSet(np.arange(40))
        window_caps.fill_in_order(page, c, caps)
        want = _fill_by_sliding_counts(plain, caps)
        np.testing.assert_array_equal(page.slots, plain.slots)
        assert [list(n) for n in c.rule_notes] == want
        unnoted = CandidateSet(np.arange(40))
        window_caps.fill_in_order(quiet, unnoted, caps, noting=False)
        np.testing.assert_array_equal(quiet.slots, page.slots)
        assert not any(unnoted.rule_notes)
        held += sum("held" in n["why"] for notes in want for n in notes)
    assert held > 100  # cards held back by a cap and placed later are among the cases


def _relaxing_by_scoring_every_card(state: PageCaps, rows: list[int], blocked: list[set[int]]
                                    ) -> tuple[int, int]:
    """The first card needing the fewest caps relaxed, by scoring every card (the old way)."""
    best, need = -1, len(blocked) + 1
    for j, r in enumerate(rows):
        last = max((c for c, b in enumerate(blocked) if state.keys(r)[c] in b), default=-1)
        if last + 1 < need:
            best, need = j, last + 1
    return best, need


def test_page_caps_relaxing_is_the_first_card_needing_the_fewest_caps_relaxed():
    rng = np.random.default_rng(11)
    seen = set()
    for _ in range(400):
        caps, page, p = _random_page(rng, n=30, slots=(3, 12), keys=3, most=2, window=6, caps=5)
        state = PageCaps(page, caps)
        blocked = state.blocked(p)
        rows = [int(r) for r in rng.permutation(30) if not page.used[r]]
        rows = [r for r in rows if any(state.keys(r)[c] in b for c, b in enumerate(blocked))]  # none fits
        want = _relaxing_by_scoring_every_card(state, rows, blocked)
        assert state.relaxing(rows, blocked) == want
        seen.add(want[1])
    assert seen >= {1, 2, 3}  # the cases cover relaxing one, two and three caps


class _Counted(list):
    """A list that counts the items iterated over."""

    read = 0

    def __iter__(self):
        for x in list.__iter__(self):
            self.read += 1
            yield x


def test_page_caps_relaxing_stops_at_the_first_card_needing_one_cap_relaxed():
    n = 50
    brand = WindowCap("brand", np.zeros(n, dtype=np.int64), 1, 10, str, "relaxed")  # one brand: all refused
    store = WindowCap("store", np.arange(n), 1, 6, str, "relaxed")
    page = PageDraft(np.arange(n), np.arange(n), 10)
    page.put(0, 0)
    state = PageCaps(page, [brand, store])
    rows = _Counted(range(1, n))
    assert state.relaxing(rows, state.blocked(1)) == (0, 1)
    assert rows.read == 1  # not every card scored


def test_a_page_reads_each_candidate_column_once():
    snap = _mall()
    c = _scored(snap)
    page = PageDraft(np.arange(len(c)), np.zeros(len(c), dtype=np.int64), 10)
    first = page.column(snap, c, "brand_id", missing=-1)
    np.testing.assert_array_equal(first, product_column(snap, c, "brand_id", missing=-1))
    snap.products.columns["brand_id"] = snap.products.columns["brand_id"] + 1  # a catalog swap mid-page
    assert page.column(snap, c, "brand_id", missing=-1) is first  # the page keeps the view it placed from
    assert PageDraft(page.order, page.stores, 10).column(snap, c, "brand_id", missing=-1)[0] == first[0] + 1
    assert (page.column(snap, c, "no_such_column", missing=3.0) == 3.0).all()


def test_the_spread_settings_are_per_surface_and_checked():
    with pytest.raises(ValueError):
        RulesSettings(spread_window={"homepage": 0})
    with pytest.raises(ValueError):
        RulesSettings(subsidy_share_max={"homepage": 1.5})
    with pytest.raises(ValueError):
        RulesSettings(spread_brand_max={"front_page": 2})
    assert set(RulesSettings().spread_category_max) == set(SURFACES)


def test_the_fold_floor_and_the_shelf_spread_share_one_set_of_caps(monkeypatch):
    import ranking.pipeline.selectors.shelf_spread as shelf_spread

    made, inner = [], shelf_spread.ShelfSpread._caps
    monkeypatch.setattr(shelf_spread.ShelfSpread, "_caps", lambda *a: made.append(1) or inner(*a))
    snap = _mall()
    snap.products.columns["product_score"] = np.where(np.arange(60) % 3 == 0, 20.0, 90.0).astype(np.float32)
    rules = _rules(traffic_policy=True, traffic_fold=6, spread_brand_max={"homepage": 1},
                   spread_window={"homepage": 6})
    c, rows = _place(snap, rules, surface="homepage", page_size=20)
    grades = _column(snap, c, rows, "product_score")
    assert len(rows) == 20 and (grades[:6] > 40).all() and (grades < 40).any()  # the fold floor placed
    assert made == [1]  # made once per page: the fold floor's and the spread's PageCaps share them


def test_page_caps_of_a_page_is_shared_while_its_slots_are_the_ones_it_placed():
    """The fold floor's ``PageCaps`` goes on into the spread (the same caps, the page's slots as it
    left them); after a card put past it, or with other caps, a new one is built from the page's
    slots; the page's memo keeps it without a reference cycle (it holds the page weakly)."""
    import gc
    import weakref

    rng = np.random.default_rng(11)
    caps, page, p = _random_page(rng, n=40, slots=(10, 16), keys=4, most=3, window=6, caps=4)
    first = PageCaps.of(page, caps)
    free = [int(r) for r in rng.permutation(40) if not page.used[r]]
    first.put(p, free.pop())
    assert PageCaps.of(page, caps) is first  # slots as it placed them: the same state goes on
    assert PageCaps.of(page, list(caps)) is first  # the same cap objects in another list
    other = [WindowCap("y", rng.integers(-1, 4, 40), 2, 5, str, "relaxed")]
    assert PageCaps.of(page, other) is not first  # other caps: their own
    again = PageCaps.of(page, caps)
    assert again is not first  # the memo held the other caps' since
    q = int(np.flatnonzero(page.slots < 0)[0])
    page.put(q, free.pop())  # placed past the caps: they no longer know the page
    rebuilt = PageCaps.of(page, caps)
    assert rebuilt is not again
    assert [rebuilt.blocked(s) for s in range(page.size)] == [PageCaps(page, caps).blocked(s)
                                                              for s in range(page.size)]
    gone = weakref.ref(page)
    gc.disable()
    try:
        del page, first, again, rebuilt
        assert gone() is None  # freed by its count alone: no cycle through the memo's caps
    finally:
        gc.enable()


def test_a_caps_keys_read_as_the_same_python_ints_whatever_their_type():
    keys = np.array([-1, 3, 127, 0, 3], np.int64)
    want = WindowCap("x", keys, 1, 3, str, "").key_list
    for kind in (np.int8, np.int16, np.int32, np.uint16, np.float64):
        got = WindowCap("x", keys.astype(kind) if kind != np.uint16 else np.abs(keys).astype(kind),
                        1, 3, str, "").key_list
        assert got == (want if kind != np.uint16 else [abs(k) for k in want])
        assert all(type(k) is int for k in got)


def test_the_subsidy_keys_read_as_the_subsidy_column_and_follow_a_swapped_column():
    from ranking.pipeline.selectors.shelf_spread import SUBSIDY_KEYS, subsidy_keys

    snap = _mall()
    column = np.zeros(60, np.float32)
    column[[0, 3, 7, 8]] = [1, 0.5, np.nan, -1]  # NaN and a negative are not subsidy cards
    snap.products.columns["subsidy"] = column
    c = CandidateSet(np.r_[snap.products.ids[::-1], 999_999])  # one product the table lacks

    def per_request():  # what the spread read before: the column as product_column reads it
        return np.where(product_column(snap, c, "subsidy") > 0, 0, -1)

    keys = subsidy_keys(snap, c)
    assert keys.dtype == np.int8 and (keys == per_request()).all() and keys[-1] == -1
    assert sorted(np.flatnonzero(keys == 0).tolist()) == [59 - 3, 59]
    assert SUBSIDY_KEYS.of(column) is SUBSIDY_KEYS.of(column)  # kept per version of the column
    changed = column.copy()  # the live catalog copies a changed column and swaps it in
    changed[[0, 20]] = [0, 1]
    snap.products.columns["subsidy"] = changed
    c = CandidateSet(c.product_ids)
    assert (subsidy_keys(snap, c) == per_request()).all()
    assert sorted(np.flatnonzero(subsidy_keys(snap, c) == 0).tolist()) == [59 - 20, 59 - 3]
    del snap.products.columns["subsidy"]
    assert (subsidy_keys(snap, CandidateSet(c.product_ids)) == -1).all()

