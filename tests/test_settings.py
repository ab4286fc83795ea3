"""Every setting does something: a field nobody reads is a knob that silently does nothing.

``recall.bm25_k1``, ``recall.bm25_b``, ``recall.rrf_k``, ``serving.default_page_size``,
``real_data.taobao_recent_items`` and ``paths.models_dir`` were such knobs: printed by
``shelfrank settings``, overridable by environment and ``--set``, read by no code.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from pydantic import BaseModel, ValidationError

from ranking.settings import ServingSettings, Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
CODE = ("ranking", "serving", "training", "shelfrank", "bench")


def _fields(model: BaseModel, prefix: str = "") -> list[tuple[str, str]]:
    out = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            out += _fields(value, f"{prefix}{name}.")
        else:
            out.append((f"{prefix}{name}", name))
    return out


def _attributes_read() -> set[str]:
    """Every attribute name the code reads (``x.name``), outside the settings module."""
    names: set[str] = set()
    for folder in CODE:
        for path in (ROOT / folder).rglob("*.py"):
            if path == ROOT / "ranking" / "settings.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Attribute):
                    names.add(node.attr)
    return names


def test_every_setting_is_read_by_some_code() -> None:
    """By name: a field whose name no code reads as an attribute is dead. (A name shared by
    two sections, such as ``seed``, passes if either is read; this catches the knob nobody
    wired, not every miswiring.)"""
    read = _attributes_read()
    dead = [full for full, name in _fields(Settings()) if name not in read]
    assert not dead, f"settings no code reads: {dead}"


def test_bm25_settings_reach_the_search_index_and_its_manifest() -> None:
    from ranking.recall.search import SearchRecall

    titles = ["red apple", "red red red apple juice box", "green apple", "pear", "apple pie"]
    ids = np.arange(1, len(titles) + 1, dtype=np.int64)
    default = SearchRecall.from_texts(titles, ids, dim=2)
    flat = SearchRecall.from_texts(titles, ids, dim=2, k1=1.2, b=0.0)
    assert default.manifest["bm25_b"] == 0.75 and flat.manifest["bm25_b"] == 0.0
    # without length normalisation the long title's score for "apple" is no longer lowered
    _, s_default = default.lexical("apple", 5)
    _, s_flat = flat.lexical("apple", 5)
    assert not np.allclose(np.sort(s_default), np.sort(s_flat))


def test_a_default_page_size_above_the_largest_page_is_refused() -> None:
    with pytest.raises(ValidationError, match="default_page_size 200 is above max_page_size 100"):
        ServingSettings(default_page_size=200)
    assert load_settings(["serving.default_page_size=7"]).serving.default_page_size == 7


def test_an_arms_rule_overrides_replace_only_those_rules_and_are_validated() -> None:
    from ranking.settings import with_rule_overrides

    base = Settings()
    arm = with_rule_overrides(base, {"value_weight": base.rules.value_weight + 0.25})
    assert arm.rules.value_weight == pytest.approx(base.rules.value_weight + 0.25)
    assert arm.rules.model_dump(exclude={"value_weight"}) == base.rules.model_dump(exclude={"value_weight"})
    assert base.rules.value_weight != arm.rules.value_weight  # the base is not changed
    assert with_rule_overrides(base, {}) is base
    with pytest.raises(ValueError, match="no_such_rule"):
        with_rule_overrides(base, {"no_such_rule": 1})
