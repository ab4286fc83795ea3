"""The ranking bodies' ``subsidy_slots`` default (serving/schemas.py): a new empty list per body
from a factory, not a ``[]`` pydantic deep-copies per body, documented exactly as ``[]`` was."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field
from pydantic_core import PydanticUndefined

from serving.schemas import HomepageRequest, RerankRequest, SearchRequest, Slots

MINIMAL = {SearchRequest: {"query": "shoes"}, HomepageRequest: {},
           RerankRequest: {"surface": "search", "candidates": [1]}}


class _Described(BaseModel):
    subsidy_slots: Slots = Field([], description="1-based positions for subsidy-channel products")


class _Bare(BaseModel):
    subsidy_slots: Slots = []


@pytest.mark.parametrize("model", list(MINIMAL))
def test_a_body_without_slots_gets_its_own_empty_list_without_a_deep_copy(model):
    a, b = model.model_validate(MINIMAL[model]), model.model_validate(MINIMAL[model])
    assert a.subsidy_slots == [] and a.subsidy_slots is not b.subsidy_slots
    a.subsidy_slots.append(3)
    assert model.model_validate(MINIMAL[model]).subsidy_slots == []
    field = model.model_fields["subsidy_slots"]  # a factory, so no default for pydantic to deep-copy
    assert field.default_factory is list and field.default is PydanticUndefined


@pytest.mark.parametrize("model", list(MINIMAL))
def test_the_schema_is_the_literal_defaults_key_for_key(model):
    reference = (_Bare if model is RerankRequest else _Described).model_json_schema()
    got = model.model_json_schema()["properties"]["subsidy_slots"]
    assert list(got.items()) == list(reference["properties"]["subsidy_slots"].items())
    assert "subsidy_slots" not in model.model_json_schema().get("required", [])
