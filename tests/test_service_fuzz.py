"""Schemathesis over the whole OpenAPI spec: thousands of valid and invalid requests, zero 5xx.

The spec's operations are fuzzed in groups, one test each (``GROUPS``), on one app per module:
one test of ~125 s could not be shared between the suite's two xdist workers, four of 15-40 s
can. Every operation falls in exactly one group (the last takes whatever the others do not
name), so a new operation is fuzzed without a change here; the groups' floors add up to the
3,000 cases the single test asserted."""

from __future__ import annotations

import pytest
import schemathesis
from conftest import record_reliability
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from ranking.settings import load_settings
from serving.app import create_app

pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = 300
# the operator's merchandising endpoints (16 operations, issue 28) are fuzzed with the operator
# token, so generated bodies reach their validation and writes, with fewer examples each: 300 each
# took 140 of the test's 250 s answering 401s
OPERATOR_PATHS = ("/v1/rules", "/v1/synonyms", "/v1/merchandising")
OPERATOR_EXAMPLES = 60
# the channel pages (issue 29) take the homepage's body through the homepage's checks
# (serving.validation.check_homepage), fuzzed at 300 each already: fewer examples each here
CHANNEL_PATHS = ("/v1/channel/",)
# operations behind the operator (or a merchant's) token, fuzzed here without one: every case
# is refused by the token check in serving.auth (401/403/429; or, before it, by the JSON
# decoding of a broken body), never reaching the handler, so their examples all fuzz the same
# check, as the merchandising endpoints' did before they got the token (above); 300 each,
# positive and negative, made them a third of this test's time. ``/readyz`` takes only the
# Authorization header: without it (one case) it answers 200, and every other case, a generated
# token, is refused by the same token check (401: 299 of its 300 cases, counted by status)
TOKEN_GUARDED = ("/metrics", "/admin/reload", "/admin/live/shopper", "/v1/merchant/stores/",
                 "/v1/catalog/", "/readyz")


WRITER = {"Authorization": "Bearer s3cret"}  # events past authentication, into validation


def _fuzz(operation, label: str, tried: dict[str, int], mode) -> None:
    operator = operation.path.startswith(OPERATOR_PATHS)
    headers = WRITER if operation.path == "/v1/events" or operator else None
    fewer = operator or operation.path.startswith(CHANNEL_PATHS + TOKEN_GUARDED)

    @settings(max_examples=OPERATOR_EXAMPLES if fewer else EXAMPLES_PER_OPERATION, deadline=None,
              database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case):
        tried[label] += 1
        response = case.call(headers=headers)
        assert response.status_code < 500, f"{label}: {response.status_code} {response.text[:300]}"

    try:
        call()
    except Unsatisfiable:
        # an operation without parameters or body has no invalid form to generate
        assert mode == schemathesis.GenerationMode.NEGATIVE, label


def _no_invalid_form(operation) -> bool:
    """Whether negative mode has nothing to break: no body, and every parameter a header that
    takes any string (``Authorization``). Hypothesis then rejects about 460 draws before it
    gives up with Unsatisfiable (which ``_fuzz`` accepts in negative mode only), sending no
    request: 12-38 s for each of four such operations on the loaded 2-core machine, for no case
    (run by hand on every operation this picks: all Unsatisfiable after 0 cases)."""
    raw = operation.definition.raw
    if "requestBody" in raw:
        return False
    for param in raw.get("parameters", []):
        schema = param.get("schema", {})
        kinds = [s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"]
        if param.get("in") != "header" or kinds != [{"type": "string"}]:
            return False
    return True


# path prefixes of each group, balanced by time (each 15-40 s on the loaded 2-core machine); the
# last group takes every operation the others do not name; cases: the fewest each group must try
GROUPS = {
    "events": ("/v1/events",),
    "search": ("/v1/search",),
    "pages": ("/v1/homepage", "/v1/rerank", "/v1/products/"),
    "the_rest": (),
}
CASES = {"events": 500, "search": 500, "pages": 1500, "the_rest": 1000}


def group_of(path: str) -> str:
    """The group whose prefixes ``path`` starts with; the last group takes every other path."""
    return next((g for g, prefixes in GROUPS.items() if path.startswith(prefixes)), list(GROUPS)[-1])


@pytest.fixture(scope="module")
def fuzzed_app(small_models, tmp_path_factory):
    """The app with its bundle loaded (the lifespan runs), shared by the module's groups, and
    its spec's operations."""
    events = tmp_path_factory.mktemp("fuzz") / "events"
    app = create_app(load_settings([f"serving.bundle={small_models / 'latest'}",
                                    f"serving.events_dir={events}", "serving.admin_token=s3cret"]))
    with TestClient(app):  # runs the lifespan: the bundle is loaded
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        yield [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("group", list(GROUPS))
def test_no_generated_request_makes_the_service_fail(fuzzed_app, group):
    tried: dict[str, int] = {}
    for operation in fuzzed_app:
        if group_of(operation.path) != group:
            continue
        label = f"{operation.method.upper()} {operation.path}"
        tried[label] = 0
        _fuzz(operation, label, tried, schemathesis.GenerationMode.POSITIVE)
        if not _no_invalid_form(operation):
            _fuzz(operation, label, tried, schemathesis.GenerationMode.NEGATIVE)
    record_reliability(f"fuzz_{group}", operations=len(tried), cases=sum(tried.values()), server_errors=0)
    assert tried and sum(tried.values()) >= CASES[group], tried


def test_the_groups_fuzz_every_operation_once_and_their_floors_add_up(fuzzed_app):
    """Every operation of the spec is in one group, every group has operations, and the
    groups' floors add up to the single test's 3,000 cases over at least 9 operations."""
    by_group = {g: [op.path for op in fuzzed_app if group_of(op.path) == g] for g in GROUPS}
    assert all(by_group.values()), by_group
    assert sum(map(len, by_group.values())) == len(fuzzed_app) >= 9
    assert set(CASES) == set(GROUPS) and sum(CASES.values()) >= 3000
    assert group_of("/v1/a-new-operation") == "the_rest"


def test_only_an_operation_of_free_headers_has_no_invalid_form():
    """The operations the fuzz leaves out of negative mode (above): no body, and no parameter
    but headers taking any string; anything else negative mode can break is fuzzed."""
    from types import SimpleNamespace

    def op(**raw):
        return SimpleNamespace(definition=SimpleNamespace(raw=raw))

    token = {"name": "authorization", "in": "header",
             "schema": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Authorization"}}
    assert _no_invalid_form(op()) and _no_invalid_form(op(parameters=[token]))
    assert _no_invalid_form(op(parameters=[{**token, "schema": {"type": "string"}}]))
    assert not _no_invalid_form(op(parameters=[token], requestBody={"content": {}}))
    assert not _no_invalid_form(op(parameters=[token, {"name": "n", "in": "query",
                                                       "schema": {"type": "integer"}}]))
    assert not _no_invalid_form(op(parameters=[{**token, "schema": {"type": "string", "maxLength": 64}}]))
    assert not _no_invalid_form(op(parameters=[{"name": "x", "in": "header", "schema": {"type": "integer"}}]))


def test_the_reliability_page_adds_the_groups_up():
    from bench.reliability import fuzz_totals

    groups = {"fuzz_events": {"operations": 1, "cases": 600, "server_errors": 0},
              "fuzz_the_rest": {"operations": 30, "cases": 3400, "server_errors": 0}, "soak": {"cases": 9}}
    assert fuzz_totals(groups) == {"operations": 31, "cases": 4000, "server_errors": 0}
    assert fuzz_totals({"soak": {}}) == {}
