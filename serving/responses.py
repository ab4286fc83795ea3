"""The error statuses each route can answer, for OpenAPI (``responses=`` on the routes).

Every error body but a 422 is :class:`ErrorBody` (``{"detail": "<reason>"}``); a 422 is
:class:`ValidationErrorBody`, the fields refused (the app's handler and the checks of
:mod:`serving.validation` both write it). The app documents what any request can get
(:data:`ERROR_RESPONSES`: 400 invalid ``Content-Length``, 408 a stalled body, 413 a body over
the limit, 500), and each route adds its own with :func:`errors`, each status with a reason
and an example body, a route's own reason where it says more (``errors(404, reasons=...)``).
Every queued route (all but :data:`serving.admission.UNQUEUED_PATHS`) can be shed with 503.
``tests/test_openapi_docs.py`` derives each route's statuses from the code and checks them here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ErrorBody(BaseModel):
    """Every error but a 422: the reason, in words."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"detail": "wrong token"}]})

    detail: str = Field(description="why the request was refused")


class FieldError(BaseModel):
    """One refused field: where it is, and why."""

    loc: list[str | int] = Field(description="where: 'body', 'query', 'path' or 'header', then the field")
    msg: str = Field(description="why, in words")
    type: str = Field(description="the kind of error ('value_error', 'missing', 'int_type', ...)")


class ValidationErrorBody(BaseModel):
    """A 422: every field refused (the offending input is not echoed back)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"detail": [
        {"loc": ["body", "page_size"], "msg": "at most 100 (serving.max_page_size)",
         "type": "value_error"}]}]})

    detail: list[FieldError]


REASONS = {
    400: "the Content-Length header is not a number",
    401: "no 'Authorization: Bearer <token>' header (WWW-Authenticate: Bearer)",
    403: "a wrong token, or one that does not grant this endpoint",
    404: "the product is not in the served bundle",
    408: "the body stalled: no data for serving.body_timeout_seconds (the connection is closed)",
    409: "the bundle was refused; the old one keeps serving",
    413: "the body is over serving.max_body_bytes (declared or chunked)",
    422: "a field is malformed or cannot mean what it says; each one is named",
    429: "over the client's write rate, or too many wrong tokens from this address (Retry-After)",
    500: "an unexpected error (logged); the body is still JSON",
    503: "overloaded (shed with Retry-After), no bundle loaded, or a store the write needs is "
         "unavailable now",
}
EXAMPLES: dict[int, Any] = {
    400: {"detail": "invalid Content-Length"},
    401: {"detail": "writes need 'Authorization: Bearer <token>'"},
    403: {"detail": "wrong token"},
    404: {"detail": "product 99999999 is not in bundle 20261205T013000Z-4c1d9e07"},
    408: {"detail": "request body stalled: no data for 10.0 s (serving.body_timeout_seconds)"},
    409: {"detail": "bundle refused, still serving 20261205T013000Z-4c1d9e07: manifest.json: "
                    "model.txt does not match its sha256"},
    413: {"detail": "body of 9437184 bytes is over the 8388608-byte limit (serving.max_body_bytes)"},
    422: {"detail": [{"loc": ["body", "query"], "msg": "query has no searchable words (no letter or digit "
                      "of any script: only punctuation, symbols or emoji)", "type": "value_error"}]},
    429: {"detail": "over the write rate of 200 events/s (serving.write_rate_per_second): retry later"},
    500: {"detail": "internal server error"},
    503: {"detail": "overloaded: 64 requests in flight and none finished within 0.5 s "
                    "(serving.max_in_flight, serving.queue_timeout_seconds); retry later"},
}


def errors(*codes: int, reasons: dict[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for ``codes``, each with its body model, reason and example."""
    said = {**REASONS, **(reasons or {})}
    return {code: {"model": ValidationErrorBody if code == 422 else ErrorBody, "description": said[code],
                   "content": {"application/json": {"example": EXAMPLES[code]}}} for code in codes}


def json_errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """:func:`errors` for a route whose success is not JSON (``/metrics``): FastAPI would file a
    status's model under the route's own media type, but an error body is JSON everywhere."""
    out = errors(*codes)
    for answer in out.values():
        model = answer.pop("model")
        answer["content"]["application/json"]["schema"] = {"$ref": f"#/components/schemas/{model.__name__}"}
    return out


ERROR_RESPONSES = errors(400, 408, 413, 500)
WRITE_ERRORS = errors(401, 403, 422, 429, 503)
OPERATOR_ERRORS = errors(401, 403, 429)
