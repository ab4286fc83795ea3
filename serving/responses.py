"""The error statuses each route can answer, for OpenAPI (``responses=`` on the routes).

Every error body but a 422 is :class:`ErrorBody` (``{"detail": "<reason>"}``); a 422 is
FastAPI's validation shape, which it documents on every route that takes input. The app
documents what any request can get (:data:`ERROR_RESPONSES`: 400 invalid
``Content-Length``, 413 body over the limit, 500), and each route adds its own with
:func:`errors`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    """Every error but a 422: the reason, in words."""

    detail: str = Field(description="why the request was refused")


REASONS = {
    400: "the Content-Length header is not a number",
    401: "no 'Authorization: Bearer <token>' header (WWW-Authenticate: Bearer)",
    403: "a wrong token, or one that does not grant this endpoint",
    404: "the product is not in the served bundle",
    409: "the bundle was refused; the old one keeps serving",
    413: "the body is over serving.max_body_bytes (declared or chunked)",
    429: "over the client's write rate, or too many wrong tokens from this address (Retry-After)",
    500: "an unexpected error (logged); the body is still JSON",
    503: "no bundle loaded, or the event log cannot be written now (Retry-After)",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for ``codes``, each with the shared error body and its reason."""
    return {code: {"model": ErrorBody, "description": REASONS[code]} for code in codes}


ERROR_RESPONSES = errors(400, 413, 500)
WRITE_ERRORS = errors(401, 403, 429, 503)
OPERATOR_ERRORS = errors(401, 403, 429)
