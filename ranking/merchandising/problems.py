"""What is wrong with a rule against the catalog being served, said before it is stored.

:func:`rule_problems` reads the served snapshot (the live catalog's overlay included) and lists,
in words an operator can act on:

* a pin of a product the catalog does not have, that is banned (or its store is) or sold out:
  the governance filter would remove it, so the pin could never show;
* a filter to a category or a brand that has no product the mall can show, or (for a rule that
  matches a category page) none inside that category: the page would be empty;
* a hide of every product the mall can show, for a rule matching without a query;
* a boost or bury whose target names no product of the catalog, a redirect to an unknown category;
* more pins than a page places (``merchandising.max_pins_per_page``).

The service calls it before storing a rule (whether it refuses or reports is the storage's
choice, docs/merchandising.md); at request time a pin that cannot be honoured is reported on the
page anyway (:mod:`.page_report`), since a product may be banned or sell out after its pin.
"""

from __future__ import annotations

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.merchandising.rule import Rule
from ranking.merchandising.targets import describe, in_category, target_mask
from ranking.pipeline.candidates import CandidateSet
from ranking.pipeline.columns import product_column
from ranking.settings import MerchandisingSettings


def _snapshot(engine_or_snapshot: object) -> FeatureSnapshot:
    return getattr(engine_or_snapshot, "snapshot", engine_or_snapshot)  # type: ignore[return-value]


def _showable(snapshot: FeatureSnapshot, cands: CandidateSet) -> np.ndarray:
    """Products the governance filter keeps: known, not banned, store not banned, in stock."""
    known = snapshot.products.rows(cands.product_ids) >= 0
    return (known & (product_column(snapshot, cands, "stock", missing=1.0) > 0)
            & ~(product_column(snapshot, cands, "banned") > 0)
            & ~(product_column(snapshot, cands, "store_banned") > 0))


def _pin_problems(rule: Rule, snapshot: FeatureSnapshot, max_pins: int) -> list[str]:
    ids = np.asarray(rule.action.pin, dtype=np.int64)
    cands = CandidateSet(ids)
    known = snapshot.products.rows(ids) >= 0
    banned = product_column(snapshot, cands, "banned") > 0
    store_banned = product_column(snapshot, cands, "store_banned") > 0
    sold_out = product_column(snapshot, cands, "stock", missing=1.0) <= 0
    out = []
    for i, pid in enumerate(ids.tolist()):
        if not known[i]:
            out.append(f"pin: product {pid} is not in the catalog")
        elif banned[i] or store_banned[i]:
            out.append(f"pin: product {pid} is banned{' (its store is)' if store_banned[i] else ''}: "
                       "it would never show")
        elif sold_out[i]:
            out.append(f"pin: product {pid} is sold out: it would not show until restocked")
    if len(ids) > max_pins:
        out.append(f"pin: {len(ids)} products but a page places at most {max_pins} pins "
                   "(merchandising.max_pins_per_page)")
    return out


def _catalog(snapshot: FeatureSnapshot) -> tuple[CandidateSet, np.ndarray]:
    every = CandidateSet(np.asarray(snapshot.products.ids, dtype=np.int64))
    return every, _showable(snapshot, every)


def _emptying_problems(rule: Rule, snapshot: FeatureSnapshot) -> list[str]:
    every, shown = _catalog(snapshot)
    m, action = rule.match, rule.action
    scope = shown if m.category_id is None else shown & in_category(snapshot, every, m.category_id)
    where = "the catalog" if m.category_id is None else f"category {m.category_id}"
    if action.filter is not None:
        kept = scope & target_mask(action.filter, every, snapshot)
        if not kept.any():
            return [f"filter: {where} has no product of {describe(action.filter)} the mall can show: "
                    "the page would be empty"]
    query_less = m.query is None and m.normalised_query is None and m.contains is None
    if action.hide is not None and query_less and scope.any():
        left = scope & ~np.isin(every.product_ids, np.asarray(action.hide, dtype=np.int64))
        if not left.any():
            return [f"hide: every product of {where} the mall can show is hidden: the page would be empty"]
    return []


def rule_problems(rule: Rule, engine_or_snapshot: object,
                  settings: MerchandisingSettings | None = None) -> list[str]:
    """Why ``rule`` could not do what it says on this catalog (module docstring); [] when none.
    ``engine_or_snapshot``: an :class:`~ranking.engine.Engine` (its snapshot) or a snapshot."""
    snapshot = _snapshot(engine_or_snapshot)
    action = rule.action
    max_pins = (settings or MerchandisingSettings()).max_pins_per_page
    if action.pin is not None:
        return _pin_problems(rule, snapshot, max_pins)
    if action.hide is not None or action.filter is not None:
        return _emptying_problems(rule, snapshot)
    move = action.boost or action.bury
    if move is not None:
        every, _ = _catalog(snapshot)
        if not target_mask(move.target, every, snapshot).any():
            return [f"{action.kind}: {describe(move.target)} names no product of the catalog"]
        return []
    category = action.redirect.category_id if action.redirect is not None else None
    if category is not None:
        every, _ = _catalog(snapshot)
        if not in_category(snapshot, every, category).any():
            return [f"redirect: category {category} has no product in the catalog"]
    return []
