"""What pages build of what the service keeps per product table, counted while they run.

The service keeps, per product table (and per homepage availability mask), what every page would
otherwise compute again: the derived columns (theme codes per time slot, grades, select keys,
floored prices, governance's barred codes...: ``DerivedColumn.of``), the homepage lists' available
rows (``Availability.segments``), the homepage sources' values per mask (trending's head:
``QuotaSource.per_mask``), the category page's prior order of the available products
(``CategoryBrowse._ordered``), the subsidy channel's ranked rows (``SubsidyChannel.ranked_rows``;
both derived columns since stop 49, counted as such, and on the sources themselves before) and the
per-product feature table
(``per_product.build_product_feature_table``, on a page's thread or aside). Start-up
(``Engine.build_tables``) and the live catalog's follower (``ranking/live/catalog_tables.py``)
build them before the pages that read them; :class:`KeptBuilds` says which a page built anyway.

Used by :mod:`bench.catalog_change` and :mod:`bench.start_tables` (``tests/test_start_tables.py``
counts the same three in a test).
"""

from __future__ import annotations

import threading
from types import TracebackType


class KeptBuilds:
    """While entered, every build of a kept value is recorded as ``(thread name, what)``;
    :meth:`take` returns those since the last take. Restores the patched methods on exit."""

    def __init__(self) -> None:
        self.built: list[tuple[str, str]] = []
        self._restore: list[tuple[object, str, object]] = []

    def _note(self, what: str) -> None:
        self.built.append((threading.current_thread().name, what))  # one append: thread-safe

    def take(self) -> list[tuple[str, str]]:
        """The builds since the last take (and forget them)."""
        built, self.built = self.built, []
        return built

    def __enter__(self) -> KeptBuilds:
        from ranking.features import per_product
        from ranking.pipeline.derived_columns import DerivedColumn
        from ranking.recall.category_browse import CategoryBrowse
        from ranking.recall.homepage_sources.availability import Availability
        from ranking.recall.homepage_sources.base import QuotaSource
        from ranking.recall.subsidy_channel import SubsidyChannel

        of, segments, per_mask = DerivedColumn.of, Availability.segments, QuotaSource.per_mask
        ordered, ranked = CategoryBrowse._ordered, SubsidyChannel.ranked_rows
        build_table = per_product.build_product_feature_table
        note = self._note

        def counted_of(column, *sources):
            key = tuple(map(id, sources))  # as ``of`` finds a kept version
            if not any(ids == key and alive.alive for ids, alive, _, _ in column._memo):
                note(f"derived column {getattr(column.build, '__qualname__', column.build)}")
            return of(column, *sources)

        def counted_segments(availability, rows, ptr=None):
            if not availability.holds(rows, ptr):
                note(f"available rows of a homepage list of {len(rows)}")
            return segments(availability, rows, ptr)

        def counted_per_mask(source, key):
            held, values = source._memo
            if held is not source.fitted.availability.mask or key not in values:
                note(f"{source.name}'s {key} under the mask")
            return per_mask(source, key)

        def counted_ordered(browse):  # kept on the source before the order was a derived column
            cached = getattr(browse, "_cached", False)
            if cached is not False and (cached is None or cached[0] is not browse.snapshot.products):
                note("the category page's prior order")
            return ordered(browse)

        def counted_ranked(channel):  # kept on the source before the rows were a derived column
            cached, snap = getattr(channel, "_cached", False), channel.snapshot
            if cached is not False and (cached is None or cached[0] is not snap.products
                                        or cached[1] is not snap.stores):
                note("the subsidy channel's ranked rows")
            return ranked(channel)

        def counted_table(snapshot, names):
            note("per-product feature table")
            return build_table(snapshot, names)

        for owner, name, patched in ((DerivedColumn, "of", counted_of),
                                     (Availability, "segments", counted_segments),
                                     (QuotaSource, "per_mask", counted_per_mask),
                                     (CategoryBrowse, "_ordered", counted_ordered),
                                     (SubsidyChannel, "ranked_rows", counted_ranked),
                                     (per_product, "build_product_feature_table", counted_table)):
            self._restore.append((owner, name, getattr(owner, name)))
            setattr(owner, name, patched)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 trace: TracebackType | None) -> None:
        for owner, name, original in reversed(self._restore):
            setattr(owner, name, original)
        self._restore.clear()
