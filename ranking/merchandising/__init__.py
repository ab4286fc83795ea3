"""Merchandising: the operator's per-query rules and synonyms, applied after the model.

* :mod:`.rule` — what a rule says (match, action, schedule, reason, author) and its checks;
* :mod:`.synonym` — what a synonym set says (terms, one way or both ways);
* :mod:`.book` — the rules and synonyms in force, one immutable :class:`MerchandisingBook`
  that a request carries (``RankRequest.merchandising``); a preview ranks with a copy that
  holds a draft.

The service keeps the book current from the durable change log (every worker, both live-state
backends); offline callers pass a book of their own or none (no rules). Import the
submodules (``from ranking.merchandising.rule import Rule``): this package imports nothing.
"""
