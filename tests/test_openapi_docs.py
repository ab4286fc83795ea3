"""OpenAPI says what the service really does: every status a route can answer, and an example
of every request and response body that its own model accepts.

The statuses each route can answer are derived from the code, not listed here: the source of
the route's endpoint and of every dependency it declares is walked (with every function of
``serving/`` it calls, by name, transitively) for ``HTTPException(<status>)``,
``Response(status_code=<status>)`` and calls that pass a status to a helper; the app's own
middleware and exception handlers add what any request can get (the admission middleware's 503
only on queued paths), and FastAPI's request validation a 422 wherever the route reads a
parameter or a body. So a new ``raise HTTPException(404)`` in a route, or a route that
documents a status no code of it answers, fails here.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable, Iterator
from pathlib import Path

import fastapi.routing
import pytest
from fastapi.routing import APIRoute
from pydantic import TypeAdapter

from ranking.settings import load_settings
from serving.admission import UNQUEUED_PATHS, AdmissionMiddleware
from serving.app import create_app

SERVING = Path(__file__).resolve().parents[1] / "serving"
STATUS_PARAMS = ("status", "status_code")
Def = ast.FunctionDef | ast.AsyncFunctionDef


def _index() -> dict[str, list[Def]]:
    """Every function and method defined in serving/, by name."""
    out: dict[str, list[Def]] = {}
    for path in sorted(SERVING.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, Def):
                out.setdefault(node.name, []).append(node)
    return out


INDEX = _index()


def _int(node: ast.AST) -> int | None:
    return node.value if isinstance(node, ast.Constant) and type(node.value) is int else None


def _status_args(call: ast.Call, callee: Def) -> Iterator[int]:
    """The constant statuses ``call`` hands to ``callee``'s ``status`` parameter."""
    names = [a.arg for a in callee.args.args]
    for i, arg in enumerate(call.args):
        if i < len(names) and names[i] in STATUS_PARAMS and _int(arg) is not None:
            yield _int(arg)
    for kw in call.keywords:
        if kw.arg in STATUS_PARAMS and _int(kw.value) is not None:
            yield _int(kw.value)


def _codes(nodes: list[Def], seen: set[int]) -> set[int]:
    """The statuses ``nodes`` (and what they call in serving/) can answer."""
    found: set[int] = set()
    for fn in nodes:
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        for node in ast.walk(fn):
            if isinstance(node, ast.Dict):  # a raw ASGI start message: {"status": 503, ...}
                found |= {_int(v) for k, v in zip(node.keys, node.values, strict=True)
                          if isinstance(k, ast.Constant) and k.value == "status" and _int(v)}
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name == "HTTPException" and node.args and _int(node.args[0]):
                found.add(_int(node.args[0]))
            found |= {_int(kw.value) for kw in node.keywords if kw.arg == "status_code" and _int(kw.value)}
            for callee in INDEX.get(name, []):
                found |= set(_status_args(node, callee))
                found |= _codes([callee], seen)
            for arg in node.args:  # a function handed on to be called (run_in_threadpool(f, ...))
                if isinstance(arg, ast.Name):
                    found |= _codes(INDEX.get(arg.id, []), seen)
    return found


def _defs_of(fn: Callable) -> list[Def]:
    """The AST of a function (or a class's methods) defined in serving/."""
    module = inspect.getmodule(fn)
    if module is None or not module.__name__.startswith("serving"):
        return []
    if inspect.isclass(fn):
        return [n for n in ast.walk(ast.parse(inspect.getsource(fn))) if isinstance(n, Def)]
    return [n for n in INDEX.get(fn.__name__, []) if n.lineno == inspect.getsourcelines(fn)[1]
            or any(d.lineno == inspect.getsourcelines(fn)[1] for d in n.decorator_list)]


def _dependant_calls(dependant) -> Iterator[Callable]:
    yield dependant.call
    for dep in dependant.dependencies:
        yield from _dependant_calls(dep)


def _reads_input(dependant) -> bool:
    return bool(dependant.path_params or dependant.query_params or dependant.header_params
                or dependant.cookie_params or dependant.body_params
                or any(_reads_input(d) for d in dependant.dependencies))


@pytest.fixture(scope="module")
def app():
    return create_app(load_settings([]), load=False)


@pytest.fixture(scope="module")
def spec(app):
    return app.openapi()


def _routes(app) -> list[APIRoute]:
    """The documented routes (FastAPI 0.13x+ keeps an included router's routes behind a context)."""
    contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    routes = [c.original_route for c in contexts(app.routes)] if contexts else app.routes
    return [r for r in routes if isinstance(r, APIRoute) and r.include_in_schema]


def _app_wide(app) -> tuple[set[int], set[int]]:
    """(what any request can get, what a queued one can get besides) from the app's own
    middleware and exception handlers."""
    every, queued = set(), set()
    for middleware in app.user_middleware:
        codes = _codes(_defs_of(middleware.cls), set())
        (queued if middleware.cls is AdmissionMiddleware else every).update(codes)
    for exc, handler in app.exception_handlers.items():
        if exc is Exception:  # the 500 handler; the validation one is 422, per route
            every |= _codes(_defs_of(handler), set())
    return every, queued


def expected_statuses(app, route: APIRoute) -> set[int]:
    every, queued = _app_wide(app)
    codes = set(every)
    if route.path not in UNQUEUED_PATHS:
        codes |= queued
    for call in _dependant_calls(route.dependant):
        codes |= _codes(_defs_of(call), set())
    if _reads_input(route.dependant):
        codes.add(422)
    return codes


def test_the_derivation_sees_the_middleware_and_the_routes_raises(app):
    every, queued = _app_wide(app)
    assert every == {400, 408, 413, 500}
    assert queued == {503}
    similar = next(r for r in _routes(app) if r.path.endswith("/similar"))
    assert {404, 503} <= expected_statuses(app, similar)  # the route's raise and the engine dependency's


def test_every_route_documents_exactly_the_statuses_its_code_answers(app, spec):
    wrong = {}
    for route in _routes(app):
        for method in route.methods:
            documented = {int(c) for c in spec["paths"][route.path][method.lower()]["responses"]} - {200}
            expected = expected_statuses(app, route)
            if documented != expected:
                wrong[f"{method} {route.path}"] = {"undocumented": sorted(expected - documented),
                                                   "never answered": sorted(documented - expected)}
    assert not wrong, wrong


def _schema(spec: dict, media: dict) -> dict:
    schema = media.get("schema", {})
    ref = schema.get("$ref")
    return spec["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else schema


def _examples(spec: dict, media: dict) -> list:
    """The example values a media type shows: its own, else its schema's."""
    if "examples" in media:
        return [e["value"] for e in media["examples"].values()]
    if "example" in media:
        return [media["example"]]
    return list(_schema(spec, media).get("examples", []))


def test_every_request_and_response_body_has_examples(spec):
    missing = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            bodies = {"request": op["requestBody"]["content"]} if "requestBody" in op else {}
            bodies |= {status: answer.get("content", {}) for status, answer in op["responses"].items()}
            for what, content in bodies.items():
                if not content or any(not _examples(spec, media) for media in content.values()):
                    missing.append(f"{method.upper()} {path} {what}")
    assert not missing, missing


def _models(route: APIRoute) -> dict[str, type]:
    """The model of each body of ``route`` that has one: the request's and each status's."""
    out: dict[str, type] = {}
    if route.body_field is not None:
        out["request"] = route.body_field.field_info.annotation
    if route.response_model is not None:
        out["200"] = route.response_model
    for status, answer in route.responses.items():
        if answer.get("model") is not None:
            out[str(status)] = answer["model"]
    return out


def test_every_example_is_a_body_its_model_accepts(app, spec):
    checked, refused = 0, []
    for route in _routes(app):
        method = next(iter(route.methods)).lower()
        op = spec["paths"][route.path][method]
        bodies = {"request": op.get("requestBody", {}).get("content", {})}
        bodies |= {status: answer.get("content", {}) for status, answer in op["responses"].items()}
        for what, model in _models(route).items():
            for media in bodies[what].values():
                for value in _examples(spec, media):
                    checked += 1
                    try:
                        TypeAdapter(model).validate_python(value)
                    except ValueError as exc:
                        refused.append(f"{method.upper()} {route.path} {what}: {exc}")
    assert not refused, refused
    assert checked >= 60, checked
