"""The text a product is known by: its title, brand name and category names, in one place.

Two readers use it, on purpose with one difference:

* the **search index** (:class:`~ranking.recall.search.SearchRecall`, the lexical and dense
  recall) also indexes the top category's names, so a query naming a department
  ("电器", "appliances") finds its products;
* the **catalog text** of the snapshot (:mod:`ranking.features.catalog_text`: the
  ``bm25`` and other relevance features, and each word's category intent) reads title,
  brand and leaf names only, so a department word does not count as a title match.

Empty parts are left out; tokens and character bigrams ignore white space, so the
joined text reads as it did when each reader had its own copy of this function.
"""

from __future__ import annotations

import pandas as pd


def product_texts(products: pd.DataFrame, brands: pd.DataFrame, categories: pd.DataFrame, *,
                  top_category: bool) -> list[str]:
    """Title + brand name + leaf category names (Chinese and English), and the top
    category's names too when ``top_category``, in ``products`` row order."""
    brand = products.brand_id.map(brands.set_index("brand_id").name).fillna("")
    cats = categories.set_index("category_id")
    parts = [products.title.fillna(""), brand, products.category_id.map(cats.name).fillna(""),
             products.category_id.map(cats.name_en).fillna("")]
    if top_category:
        parent = products.category_id.map(cats.parent_id)
        parts += [parent.map(cats.name).fillna(""), parent.map(cats.name_en).fillna("")]
    return [" ".join(x for x in row if x) for row in zip(*parts, strict=True)]
