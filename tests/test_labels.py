"""Graded labels: the strongest action on a card in its request wins."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.learning.labels import CART, CLICK, ORDER, SKIP, _grade_by_merge, grade_impressions


def _frames():
    imp = pd.DataFrame({"request_id": [1, 1, 1, 1, 2, 2], "product_id": [10, 11, 12, 13, 10, 11]})
    clicks = pd.DataFrame({"request_id": [1, 1, 1, 2], "product_id": [11, 12, 13, 11]})
    carts = pd.DataFrame({"request_id": [1, 1], "product_id": [12, 13]})
    orders = pd.DataFrame({"request_id": [1.0, np.nan], "product_id": [13, 10]})
    return imp, clicks, carts, orders


def test_order_beats_cart_beats_click_beats_skip() -> None:
    grades = grade_impressions(*_frames())
    assert grades.tolist() == [SKIP, CLICK, CART, ORDER, SKIP, CLICK]


def test_an_order_without_a_request_labels_nothing_and_both_paths_agree() -> None:
    frames = _frames()
    assert grade_impressions(*frames)[4] == SKIP
    assert _grade_by_merge(*frames).tolist() == grade_impressions(*frames).tolist()
