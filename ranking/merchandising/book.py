"""The rules and synonyms in force: one immutable book a request carries.

The service publishes a new :class:`MerchandisingBook` (one attribute assignment, readers
never wait) whenever a rule or synonym changes; a request takes the current one
(``RankRequest.merchandising``), so one page sees one consistent set. A preview ranks the same
request with :meth:`MerchandisingBook.with_rule` / :meth:`without` copies.

The compiled indexes are built once per book, on first use: ``rule_index``
(:class:`ranking.merchandising.rule_index.RuleIndex`: ``matching(request)`` gives the rules in
force for a request, in the documented order) and ``synonym_index``
(:class:`ranking.merchandising.synonym_index.SynonymIndex`: ``rewrite(query)`` gives the terms a
query also searches and which synonym sets said so).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from ranking.merchandising.rule import Rule
from ranking.merchandising.synonym import Synonym


@dataclass(frozen=True)
class MerchandisingBook:
    """Rules and synonym sets by id (module docstring); ``version`` counts the changes folded."""

    rules: tuple[Rule, ...] = ()
    synonyms: tuple[Synonym, ...] = ()
    version: int = 0

    def __bool__(self) -> bool:
        return bool(self.rules or self.synonyms)

    @cached_property
    def rule_index(self) -> Any:
        from ranking.merchandising.rule_index import RuleIndex

        return RuleIndex(self.rules)

    @cached_property
    def synonym_index(self) -> Any:
        from ranking.merchandising.synonym_index import SynonymIndex

        return SynonymIndex(self.synonyms)

    def succeeded_by(self, rules: tuple[Rule, ...], synonyms: tuple[Synonym, ...],
                     version: int) -> MerchandisingBook:
        """The next book: an index this book has built is handed on when its items are the same
        tuple (a rule change does not recompile 10,000 synonym sets, nor a synonym change the rules)."""
        book = MerchandisingBook(rules, synonyms, version)
        for items, index in (("rules", "rule_index"), ("synonyms", "synonym_index")):
            if getattr(self, items) is getattr(book, items) and index in self.__dict__:
                book.__dict__[index] = self.__dict__[index]
        return book

    def with_rule(self, rule: Rule) -> MerchandisingBook:
        """This book plus ``rule`` (replacing the rule of the same id): a preview's draft."""
        kept = tuple(r for r in self.rules if rule.id is None or r.id != rule.id)
        return replace(self, rules=(*kept, rule), version=self.version)

    def with_synonym(self, synonym: Synonym) -> MerchandisingBook:
        kept = tuple(s for s in self.synonyms if synonym.id is None or s.id != synonym.id)
        return replace(self, synonyms=(*kept, synonym), version=self.version)

    def without(self, ids: set[str]) -> MerchandisingBook:
        """This book without the rules and synonym sets of these ids."""
        return replace(self, rules=tuple(r for r in self.rules if r.id not in ids),
                       synonyms=tuple(s for s in self.synonyms if s.id not in ids), version=self.version)


EMPTY_BOOK = MerchandisingBook()
