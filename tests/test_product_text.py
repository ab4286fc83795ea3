"""The one definition of a product's text, as the search index and the catalog text read it."""

from __future__ import annotations

import pandas as pd

from ranking.product_text import product_texts
from ranking.recall.tokenize import char_bigrams, tokenize

PRODUCTS = pd.DataFrame({"product_id": [1, 2, 3], "title": ["Vekaa 大米 2.5kg", "水杯", None],
                         "brand_id": [7, 99, 7], "category_id": [11, 11, 555]})
BRANDS = pd.DataFrame({"brand_id": [7], "name": ["Vekaa"]})
CATEGORIES = pd.DataFrame({"category_id": [1, 11], "name": ["食品", "大米"], "name_en": ["food", "rice"],
                           "parent_id": [None, 1]})


def test_the_search_text_adds_the_top_category_and_the_catalog_text_does_not():
    search = product_texts(PRODUCTS, BRANDS, CATEGORIES, top_category=True)
    catalog = product_texts(PRODUCTS, BRANDS, CATEGORIES, top_category=False)
    assert search[0] == "Vekaa 大米 2.5kg Vekaa 大米 rice 食品 food"
    assert catalog[0] == "Vekaa 大米 2.5kg Vekaa 大米 rice"


def test_missing_parts_are_left_out_not_spelled_nan_or_doubled_spaces():
    catalog = product_texts(PRODUCTS, BRANDS, CATEGORIES, top_category=False)
    search = product_texts(PRODUCTS, BRANDS, CATEGORIES, top_category=True)
    assert catalog[1] == "水杯 大米 rice" and search[1] == "水杯 大米 rice 食品 food"  # brand unknown
    assert catalog[2] == "Vekaa" and search[2] == "Vekaa"  # no title, unknown category
    # the catalog text the features read is what the old per-reader copy gave, word for word
    old = "水杯  大米 rice"  # title, brand, leaf names joined with a space each, empties kept
    assert tokenize(catalog[1]) == tokenize(old) and char_bigrams(catalog[1]) == char_bigrams(old)
