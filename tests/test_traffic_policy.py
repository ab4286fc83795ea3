"""The traffic policy: each rule moves exactly the cards it says, explains itself, and off
changes nothing; the published section of docs/scores.md is the settings' own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rules_mall import rules_request, rules_snapshot, scored

from ranking.pipeline.adjusters import Demotion, SessionIntent, ThemeBoost, TrafficPolicy, ValueTilt
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.pipeline import Pipeline
from ranking.pipeline.selector import Selector
from ranking.pipeline.selectors import ExplorationSlots, FoldFloor, ShelfSpread, StoreDiversity, SubsidySlots
from ranking.pipeline.traffic_grades import grade_codes, grades_of, slot_eligible
from ranking.pipeline.traffic_policy_text import BEGIN, END, policy_section
from ranking.settings import LiveSettings, RulesSettings, Settings

DOCS = Path(__file__).resolve().parents[1] / "docs" / "scores.md"


def graded_snapshot(product_scores, store_scores):
    """The rules mall (30 products, store = index % 3) with product and store scores."""
    snap = rules_snapshot()
    snap.products.columns["product_score"] = np.asarray(product_scores, dtype=np.float32)
    snap.stores.columns["store_experience_score"] = np.asarray(store_scores, dtype=np.float32)
    return snap


def test_grades_follow_the_product_score_floors_and_unknown_is_no_grade():
    assert list(grades_of(np.array([95, 80, 79.9, 60, 40, 39.9, 0, np.nan]))) == \
        ["A", "A", "B", "B", "C", "D", "D", ""]


def test_slot_eligibility_needs_an_eligible_grade_and_store_score_unless_unknown_or_off():
    rules = RulesSettings(traffic_slot_grades=["A", "B"], traffic_slot_min_store_score=40)
    grades = grade_codes(np.array([90, 70, 50, 10, 85, np.nan, 65]))  # A B C D A - B
    stores = np.array([50, 40, 90, 90, 39.9, 10, np.nan])
    assert list(slot_eligible(grades, stores, rules)) == [True, True, False, False, False, False, True]
    assert slot_eligible(grades, stores, RulesSettings(traffic_policy=False)).all()


def test_store_score_boost_and_penalty_move_exactly_those_stores_cards_and_say_why():
    snap = graded_snapshot(np.full(30, 50), [80, 50, 10])  # store 0 boosted, store 2 penalised
    c = scored(snap)
    spread = float(np.std(c.scores))
    rules = RulesSettings(traffic_store_boost_min=75, traffic_store_boost=0.3,
                          traffic_store_penalty_below=25, traffic_store_penalty=0.5)
    TrafficPolicy(rules).apply(c, rules_request(), snap)
    store = np.arange(30) % 3
    assert c.adjustments[store == 0] == pytest.approx([0.3 * spread] * 10)
    assert (c.adjustments[store == 1] == 0).all() and all(not c.notes(i) for i in range(1, 30, 3))
    assert c.adjustments[store == 2] == pytest.approx([-0.5 * spread] * 10)
    assert c.notes(0) == [{"rule": "traffic_policy", "delta": pytest.approx(0.3 * spread),
                           "why": "store score at least 75: moved up by the traffic policy"}]
    assert c.notes(2)[0]["why"] == "store score below 25: moved down by the traffic policy"
    assert c.take(np.array([2, 0])).notes(1)[0]["delta"] == pytest.approx(0.3 * spread)  # kept through take
    assert (c.scores == -np.arange(30)).all()  # the model score is never touched


def test_the_campaign_boost_goes_only_to_eligible_theme_products_and_the_rest_say_why():
    scores = np.full(30, 85.0)
    scores[[1, 3]] = 50  # grade C
    snap = graded_snapshot(scores, [80, 30, 60])  # store 1 below the slot minimum of 40
    c = scored(snap)
    spread = float(np.std(c.scores))
    ThemeBoost(RulesSettings(theme_boost=0.5)).apply(c, rules_request(hour=9), snap)  # leaf 11: rows 0-14
    boosted = np.flatnonzero(c.adjustments > 0)
    store = np.arange(30) % 3
    expected = [i for i in range(15) if store[i] != 1 and i not in (1, 3)]
    assert list(boosted) == expected
    assert c.adjustments[boosted] == pytest.approx([0.5 * spread] * len(expected))
    assert c.rule_notes[3] == [{"rule": "traffic_policy",
                                "why": "not in the 09:00 campaign: grade C: subsidy slots and campaigns "
                                       "need grade A/B"}]
    assert c.rule_notes[4][0]["why"] == ("not in the 09:00 campaign: store score below 40: subsidy slots "
                                         "and campaigns need at least that")
    assert all(not c.rule_notes[i] for i in range(15, 30))  # not the theme: untouched


def test_subsidy_slots_take_only_eligible_products_and_note_the_eligibility():
    scores = np.full(30, 50.0)
    scores[[6, 9]] = [45, 85]  # 6: grade C, 9: grade A
    snap = graded_snapshot(scores, [80, 80, 80])
    snap.products.columns["subsidy"][[6, 9]] = 1
    rules = RulesSettings(store_diversity_max=10)
    request = rules_request(page_size=5, subsidy_slots=(1,))
    c = scored(snap)
    placed = Selector(rules, [SubsidySlots(rules), StoreDiversity(rules)]).place(
        c, request, snap, np.random.default_rng(0))
    assert list(placed.rows) == [9, 0, 1, 2, 3]  # 6 scores higher but is grade C
    assert c.rule_notes[9][-1] == {"rule": "traffic_policy", "why": "grade A, store score 80: eligible for "
                                   "subsidy slots (grade A/B, store score at least 40)"}
    c2 = scored(snap)
    off = RulesSettings(store_diversity_max=10, traffic_policy=False)
    placed = Selector(off, [SubsidySlots(off), StoreDiversity(off)]).place(c2, request, snap,
                                                                          np.random.default_rng(0))
    assert list(placed.rows) == [6, 0, 1, 2, 3]


def test_grade_d_stays_below_the_fold_and_only_the_cards_it_pushed_say_so():
    scores = np.full(30, 50.0)
    scores[[0, 2, 7]] = 20  # grade D; 0 and 2 would be in the first 4 by score, 7 would not
    snap = graded_snapshot(scores, [50, 50, 50])
    rules = RulesSettings(traffic_fold=4, store_diversity_max=10)
    c = scored(snap)
    placed = Selector(rules).place(c, rules_request(page_size=10, explain=True), snap,
                                   np.random.default_rng(0))
    assert list(placed.rows) == [1, 3, 4, 5, 0, 2, 6, 7, 8, 9]
    why = "grade D: kept below position 4 by the traffic policy"
    assert c.rule_notes[0] == [{"rule": "traffic_policy", "why": why}] and c.rule_notes[2] == c.rule_notes[0]
    assert all(not c.rule_notes[i] for i in range(3, 30))
    c = scored(snap)  # not explained: the same page, no note (only ``explain`` shows them)
    placed = Selector(rules).place(c, rules_request(page_size=10), snap, np.random.default_rng(0))
    assert list(placed.rows) == [1, 3, 4, 5, 0, 2, 6, 7, 8, 9] and not any(c.rule_notes)
    # only grade D left: the floor gives way rather than leave the page short
    c = scored(snap, ids=snap.products.ids[[0, 2, 7]])
    placed = Selector(rules).place(c, rules_request(page_size=3), snap, np.random.default_rng(0))
    assert list(placed.rows) == [0, 1, 2]


def test_the_fold_floor_reads_the_grades_of_the_current_product_scores():
    snap = graded_snapshot(np.full(30, 50.0), [50, 50, 50])
    rules = RulesSettings(traffic_fold=4, store_diversity_max=10)
    placed = Selector(rules).place(scored(snap), rules_request(page_size=10), snap, np.random.default_rng(0))
    assert list(placed.rows[:4]) == [0, 1, 2, 3]
    column = snap.products.columns["product_score"].copy()  # the live catalog copies a changed column
    column[[0, 2]] = 20  # now grade D
    snap.products.columns["product_score"] = column
    placed = Selector(rules).place(scored(snap), rules_request(page_size=10), snap, np.random.default_rng(0))
    assert list(placed.rows[:4]) == [1, 3, 4, 5]


def test_the_fold_floor_keeps_store_diversity_inside_the_fold():
    scores = np.full(30, 50.0)
    scores[[1, 2]] = 20  # stores 1 and 2's best cards are grade D: store 0's are next
    snap = graded_snapshot(scores, [50, 50, 50])
    rules = RulesSettings(traffic_fold=3, store_diversity_max=1, store_diversity_window=3)
    page = FoldFloor(rules)
    c = scored(snap)
    placed = Selector(rules, [page, StoreDiversity(rules)]).place(c, rules_request(page_size=6), snap,
                                                                  np.random.default_rng(0))
    assert list(placed.rows[:3]) == [0, 4, 5]  # one card per store, none of grade D


def _pages(rules: RulesSettings, adjusters=None, selectors=None) -> list[tuple]:
    rng = np.random.default_rng(3)
    snap = rules_snapshot(n=30, stores=3)
    snap.products.columns["product_score"] = rng.uniform(0, 100, 30).astype(np.float32)
    snap.products.columns["subsidy"] = (rng.random(30) < 0.3).astype(np.float32)
    snap.stores.columns["store_experience_score"] = np.array([85, 50, 15], dtype=np.float32)
    snap.stores.columns["new_store"][1] = 1
    model = type("M", (), {"score_is_log_odds": True})()
    pipe = Pipeline("p", [], snap, model, rules, adjusters=adjusters)
    if selectors is not None:
        pipe.selector = Selector(rules, selectors)
    out = []
    for hour, surface, slots in ((9, "homepage", (1, 3)), (14, "search", ()), (20, "homepage", (2,))):
        request = RankRequest(surface=surface, page_size=12, now_ms=0, hour=hour, subsidy_slots=slots, seed=5)
        cands = CandidateSet(snap.products.ids.copy())
        cands.scores = np.round(np.random.default_rng(hour).normal(0, 1, 30), 3)
        for adjuster in pipe.adjusters:
            adjuster.apply(cands, request, snap)
        placed = pipe.selector.place(cands, request, snap, np.random.default_rng(request.seed))
        page = cands.take(placed.rows)
        out.append((page.product_ids.tolist(), placed.propensity.tolist(), page.adjustments.tolist(),
                    [page.notes(i) for i in range(len(page))]))
    return out


def test_the_policy_off_leaves_pages_and_explanations_as_without_it():
    off = RulesSettings(traffic_policy=False)
    without = _pages(off, adjusters=[Demotion(off), ThemeBoost(off), SessionIntent(LiveSettings()),
                                     ValueTilt(off, True)],
                     selectors=[SubsidySlots(), ExplorationSlots(off), ShelfSpread(off)])
    assert _pages(off) == without
    assert _pages(RulesSettings()) != without  # on, the same catalog gets other pages


def test_docs_scores_md_publishes_the_policy_of_the_default_settings():
    text = DOCS.read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    published = text[text.index(BEGIN): text.index(END) + len(END)]
    settings = Settings()
    assert published == policy_section(settings.rules, settings.scores), \
        "regenerate with `shelfrank scores policy` and paste it between the markers"
    assert "kept below position 6" not in published or settings.rules.traffic_fold == 6


def test_the_published_table_follows_the_settings():
    s = Settings()
    rules = s.rules.model_copy(update={"traffic_fold": 3, "traffic_slot_grades": ["A"]})
    table = policy_section(rules, s.scores)
    assert "never placed in the first 3 positions" in table
    assert "| grade B (product score 60-80) | no subsidy slot and no campaign boost |" in table


def test_the_store_moves_follow_a_swapped_store_score_or_store_column_and_other_lines():
    """Each product's move code is kept per store column, store scores and lines (``MOVE_CODES``):
    the live catalog swaps a changed column whole, and other settings are other lines."""
    snap = graded_snapshot(np.full(30, 50), [80, 50, 10])
    rules = RulesSettings(traffic_store_boost_min=75, traffic_store_boost=0.3,
                          traffic_store_penalty_below=25, traffic_store_penalty=0.5)

    def signs(rules):
        c = scored(snap)
        TrafficPolicy(rules).apply(c, rules_request(), snap)
        return np.sign(c.adjustments[:3]).tolist()  # products 100-102: stores 0, 1, 2

    assert signs(rules) == [1, 0, -1]
    snap.stores.columns["store_experience_score"] = np.array([10, 80, 50], np.float32)
    assert signs(rules) == [-1, 1, 0]
    snap.products.columns["store_id"] = ((np.arange(30) + 1) % 3).astype(np.float32)  # 100 in store 1
    assert signs(rules) == [1, 0, -1]
    assert signs(rules.model_copy(update={"traffic_store_boost_min": 90.0})) == [0, 0, -1]
    assert signs(rules.model_copy(update={"traffic_store_penalty_below": 60.0})) == [1, -1, -1]


def test_the_fold_floor_reaches_past_its_first_candidates_when_none_of_them_fits(monkeypatch):
    """The fold floor makes plain ints of only its first few candidates per slot; when the caps
    refuse all of those, the rest are tried, so the page is the one every candidate tried gives."""
    import ranking.pipeline.selectors.fold_floor as fold_floor

    rng = np.random.default_rng(8)
    rules = RulesSettings(traffic_fold=4, store_diversity_max=1, store_diversity_window=4)
    reached = 0
    for _ in range(40):
        scores = np.where(rng.random(30) < 0.4, 20.0, 50.0)  # grade D or C
        snap = graded_snapshot(scores, [50, 50, 50])
        snap.products.columns["store_id"] = np.where(np.arange(30) < 20, 0, rng.integers(1, 3, 30)
                                                     ).astype(np.float32)  # the best 20 all of store 0
        pages = []
        for head in (1, 1000):
            monkeypatch.setattr(fold_floor, "HEAD_PER_SLOT", head)
            c = scored(snap)
            placed = Selector(rules).place(c, rules_request(page_size=8), snap, np.random.default_rng(0))
            pages.append((placed.rows.tolist(), [list(c.rule_notes[i]) for i in range(30)]))
        assert pages[0] == pages[1]
        reached += any(r >= 20 for r in pages[0][0][1:4])  # a card of another store, past the first few
    assert reached > 30


def _fold_floor_as_it_was(rules: RulesSettings, page, cands, request, snap) -> None:
    """The fold floor before it read its grades from the placement's keys and found the rows in
    its fold by score from the first few (the reference for the test below)."""
    from ranking.pipeline.selectors.window_caps import PageCaps
    from ranking.pipeline.traffic_grades import GRADES, candidate_grades

    fold = min(rules.traffic_fold, page.size)
    grade_d = candidate_grades(snap, cands) == GRADES.index("D")
    if not grade_d.any():
        return
    stream = page.order[~page.used[page.order]]
    in_fold_by_score = stream[:fold]
    left = stream[~grade_d[stream]].tolist()
    caps = PageCaps.of(page, ShelfSpread(rules).caps(page, cands, request, snap))
    for p in range(fold):
        if page.slots[p] >= 0:
            continue
        if not left:
            break
        caps.put(p, left.pop(max(caps.first_fitting(left, p), 0)))
    for r in sorted(int(r) for r in in_fold_by_score):
        if grade_d[r] and not page.used[r]:
            why = f"grade D: kept below position {rules.traffic_fold} by the traffic policy"
            cands.rule_notes[r].append({"rule": "traffic_policy", "why": why})


def test_the_fold_floor_places_and_notes_as_it_did_with_slots_placed_before_it():
    """Random pages with cards placed before the fold floor (in and past the fold): the same slots
    and notes as the fold floor that read its own grades and every unplaced row in score order."""
    from ranking.pipeline.selectors.draft import PageDraft
    from ranking.pipeline.selectors.page_keys import STORE, page_keys

    rng = np.random.default_rng(11)
    for trial in range(200):
        n = int(rng.integers(5, 30))
        scores = np.where(rng.random(30) < rng.uniform(0, 0.9), 20.0, rng.uniform(40, 99, 30))
        scores[rng.random(30) < 0.1] = np.nan
        snap = graded_snapshot(scores, [50, 50, 50])
        snap.products.columns["subsidy"] = (rng.random(30) < 0.3).astype(np.float32)
        rules = RulesSettings(traffic_fold=int(rng.integers(1, 8)),
                              store_diversity_max=int(rng.integers(1, 3)),
                              store_diversity_window=int(rng.integers(2, 6)))
        request = rules_request(page_size=int(rng.integers(3, 12)), explain=True)  # notes: explained only
        ids, order = rng.permutation(snap.products.ids)[:n], rng.permutation(n)  # any rank order
        made = []
        for fill in ("reference", "served"):
            c = scored(snap, ids=ids)
            keys = page_keys(PageDraft(order, np.zeros(n, np.int64), 1), snap, c)
            page = PageDraft(order, keys[:, STORE], min(request.page_size, n))
            page.once(page_keys, lambda keys=keys: keys)
            placed_rng = np.random.default_rng(trial)
            for slot in placed_rng.choice(page.size, int(placed_rng.integers(0, page.size)), replace=False):
                page.put(int(slot), int(placed_rng.choice(np.flatnonzero(~page.used))))
            if fill == "reference":
                _fold_floor_as_it_was(rules, page, c, request, snap)
            else:
                FoldFloor(rules).fill(page, c, request, snap, np.random.default_rng(0))
            made.append((page.slots.tolist(), [list(c.rule_notes[i]) for i in range(n)]))
        assert made[0] == made[1], trial
