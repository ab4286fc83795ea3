"""What a live catalog change invalidates, built on the follower's thread before the swap.

The overlay (:func:`~ranking.live.catalog_overlay.overlay_products`) swaps in a new product table
whose changed columns are new objects, and what the pages keep per table object or column was
built by the first pages after it: at 1M products the derived columns that read a changed column
(``value_tilt``'s floored prices, governance's barred codes: ~5 ms each, on a page's thread) and
the per-product feature table (~0.9-1.3 s of CPU aside, while every page computed those features
itself). :func:`prepare_swap` builds them for the new table before the follower swaps it in and
:func:`swapped` hands the feature table to the readers right after, so the pages after a change
find them built; so are cold start's leaf rates when the leaves moved (new products:
:func:`~ranking.cold_start.posterior.leaf_rates`) and, when a column they read moved, the tables
built aside per version of the product table (cold start's facts, the cards' steady badges:
``BuiltAside.prepare``), which the
first page after each swap otherwise started two threads for and the pages after it competed
with. (The homepage lists' available rows are built by the new availability mask itself before
it is installed: ``Availability.install``.)
"""

from __future__ import annotations

import logging
from typing import Any

from ranking.cold_start.posterior import leaf_rates
from ranking.cold_start.product_facts import snapshot_facts
from ranking.features.per_product import install_prepared_table, prepare_product_feature_table
from ranking.features.snapshot import EntityTable
from ranking.pipeline.derived_columns import EVERY

log = logging.getLogger("shelfrank.catalog")


def prepare_swap(engine: Any, old: EntityTable, new: EntityTable) -> None:
    """Before ``engine.snapshot.products = new`` (``old`` is the table served now): each derived
    column kept for one of ``old``'s columns built for the column ``new`` holds instead, and the
    per-product feature table of ``new`` patched from ``old``'s (its changed rows computed again).
    A failure is logged: the pages build what is missing, as before."""
    try:
        replaced = {id(column): new.columns[name] for name, column in old.columns.items()
                    if name in new.columns and new.columns[name] is not column}
        if new.ids is not old.ids:
            replaced[id(old.ids)] = new.ids
        for derived in list(EVERY):
            if replaced:
                derived.build_replacing(replaced)
            derived.build_for(old, new)  # also a column ``new`` adds (an older bundle's offer columns)
        prepare_product_feature_table(engine.snapshot, new)
        strength = engine.settings.cold_start.prior_strength
        if new.columns.get("category_id") is not old.columns.get("category_id"):  # new products
            leaf_rates(new, strength)  # kept for every pipeline's cold start
        # each builds only when a column it reads moved (an offer flag moves the badges alone)
        snapshot_facts(engine.snapshot).prepare(new, engine.snapshot.stores, strength)
        engine.prepare_badges(new)
    except Exception:
        log.exception("catalog: building what the change invalidates before the swap failed")


def swapped(engine: Any) -> None:
    """Right after the swap: the prepared per-product feature table is the engine's."""
    install_prepared_table(engine.snapshot)
