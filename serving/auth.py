"""Who is calling: write credentials, the operator token, and the lockout of token guessers.

:class:`ServiceAuth` is built once per app from settings (``serving.admin_token``, the
operator's; ``serving.client_tokens``, one per frontend) and lives on
``app.state.shelfrank_auth``. Routes reach it through these dependencies:

* :func:`writer` guards every write endpoint and yields the caller's name, which the event
  log records with the batch and the access log prints: a client's name, ``operator`` for
  the operator token, or None when no token is configured at all (the demo: writes are open
  and the service says so in its start-up log and ``/readyz``);
* :func:`admin` guards ``/admin/*`` and the bans: the operator token, always (403 when none is set);
* :func:`store_scope` guards the catalog's product and store upserts and the merchant traffic
  report: the operator token (every store) or a merchant's own token (``serving.merchant_tokens``:
  its store only, which the route enforces); it yields the store a merchant may touch, None
  for the operator;
* :func:`operator_view` guards ``/metrics``: the operator token when one is set;
* :func:`sees_details` tells ``/readyz`` whether to show paths and reasons.

Every token is compared with ``hmac.compare_digest`` against every configured token (no
early exit). A wrong token counts against the caller's remote address
(:class:`~serving.rate_limit.LoginThrottle`): after ``serving.login_failures`` the address
gets 429 with ``Retry-After`` for ``serving.login_lockout_seconds``, right token or not.
"""

from __future__ import annotations

import hmac
import logging

from fastapi import Depends, Header, HTTPException, Request

from ranking.settings import ServingSettings
from serving.rate_limit import LoginThrottle, RateLimiter, retry_after

log = logging.getLogger("shelfrank.serving")
CLIENT_SCOPE_KEY = "shelfrank.client"  # the caller's name on the ASGI scope, for the access log
OPERATOR = "operator"
MERCHANT = "merchant:"  # a merchant token's caller name is merchant:<store id>
BEARER = "Bearer "


class ServiceAuth:
    """The configured tokens, the write rate limiter and the wrong-token throttle of one app."""

    def __init__(self, limits: ServingSettings) -> None:
        self.operator_token = limits.admin_token.get_secret_value().encode()
        self.clients = [(name, token.get_secret_value().encode())
                        for name, token in limits.client_tokens.items()]
        self.clients += [(f"{MERCHANT}{store}", token.get_secret_value().encode())
                         for store, token in limits.merchant_tokens.items()]
        self.writes = RateLimiter(limits.write_rate_per_second, limits.write_burst)
        self.logins = LoginThrottle(limits.login_failures, limits.login_lockout_seconds)

    @property
    def open_writes(self) -> bool:
        """No operator or client token configured: anyone may post events (the demo)."""
        return not self.operator_token and not any(not n.startswith(MERCHANT) for n, _ in self.clients)

    @property
    def merchants(self) -> bool:
        return any(n.startswith(MERCHANT) for n, _ in self.clients)

    def identify(self, token: str) -> str | None:
        """The name ``token`` belongs to (a client, or ``operator``), else None; every
        configured token is compared, in constant time each."""
        given = token.encode()
        found = None
        if self.operator_token and hmac.compare_digest(given, self.operator_token):
            found = OPERATOR
        for name, expected in self.clients:
            if hmac.compare_digest(given, expected):
                found = name
        return found

    def announce(self) -> None:
        """The start-up log line saying who may write."""
        if self.open_writes:
            log.warning("writes are open: neither serving.admin_token nor serving.client_tokens is set, "
                        "so anyone who reaches the port may post events (the demo; docs/security.md)")
        else:
            log.info("writes need a bearer token: %d client(s) (%s)%s", len(self.clients),
                     ", ".join(n for n, _ in self.clients) or "none",
                     " and the operator" if self.operator_token else "")


async def service_auth(request: Request) -> ServiceAuth:
    """The app's credentials; a coroutine, so FastAPI reads it on the loop, not in the thread pool
    (:mod:`serving.dependencies`)."""
    return request.app.state.shelfrank_auth


def remote_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _record(request: Request, name: str | None) -> None:
    request.scope[CLIENT_SCOPE_KEY] = name


def _bearer(authorization: str | None, what: str) -> str:
    if not authorization or not authorization.startswith(BEARER):
        raise HTTPException(401, detail=f"{what} need 'Authorization: Bearer <token>'",
                            headers={"WWW-Authenticate": "Bearer"})
    return authorization[len(BEARER):]


def _check(request: Request, auth: ServiceAuth, token: str) -> str:
    """The name of ``token``'s owner; 429 while the address is locked out, 403 when wrong."""
    address = remote_address(request)
    locked = auth.logins.locked(address)
    if locked:
        raise HTTPException(429, detail="too many wrong tokens from this address: locked out",
                            headers=retry_after(locked))
    name = auth.identify(token)
    if name is None:
        lockout = auth.logins.failed(address)
        log.warning("wrong bearer token from %s on %s", address, request.url.path)
        raise HTTPException(403, detail="wrong token",
                            headers=retry_after(lockout) if lockout else None)
    auth.logins.succeeded(address)
    return name


def writer(request: Request, authorization: str | None = Header(None),
           auth: ServiceAuth = Depends(service_auth)) -> str | None:
    """The writing client's name (None when writes are open): 401 without a bearer token,
    403 with a wrong one or a merchant's, 429 while the address is locked out."""
    if auth.open_writes:
        return None
    name = _check(request, auth, _bearer(authorization, "writes"))
    if name.startswith(MERCHANT):
        raise HTTPException(403, detail="a merchant token may change only its own store's catalog "
                                        "and read its traffic report")
    _record(request, name)
    return name


def store_scope(request: Request, authorization: str | None = Header(None),
                auth: ServiceAuth = Depends(service_auth)) -> int | None:
    """None for the operator token (every store), the store id for a merchant's own token; 401
    without a token, 403 with a wrong or a client's one (or when neither an operator nor a
    merchant token is configured), 429 while locked out."""
    token = _bearer(authorization, "catalog changes and merchant reports")
    if not auth.operator_token and not auth.merchants:
        raise HTTPException(403, detail="the catalog is read-only: set serving.admin_token "
                                        "(or serving.merchant_tokens)")
    name = _check(request, auth, token)
    _record(request, name)
    if name == OPERATOR:
        return None
    if name.startswith(MERCHANT):
        return int(name[len(MERCHANT):])
    raise HTTPException(403, detail="this needs the operator token or the store's own merchant token")


def admin(request: Request, authorization: str | None = Header(None),
          auth: ServiceAuth = Depends(service_auth)) -> None:
    """``Authorization: Bearer <serving.admin_token>``: 401 without it, 403 with a wrong token
    (a client's too) or when no operator token is configured, 429 while locked out."""
    token = _bearer(authorization, "admin endpoints")
    if not auth.operator_token:
        raise HTTPException(403, detail="admin is disabled: set serving.admin_token")
    if _check(request, auth, token) != OPERATOR:
        raise HTTPException(403, detail="admin endpoints need the operator token")
    _record(request, OPERATOR)


def operator_view(request: Request, authorization: str | None = Header(None),
                  auth: ServiceAuth = Depends(service_auth)) -> None:
    """The operator token when one is set (open in the demo, where none is)."""
    if auth.operator_token:
        admin(request, authorization, auth)


def sees_details(request: Request, authorization: str | None = Header(None),
                 auth: ServiceAuth = Depends(service_auth)) -> bool:
    """Whether the caller sent the operator token (a wrong token is refused, as anywhere);
    without a header: False, the public answer."""
    if authorization is None or not auth.operator_token:
        return False
    admin(request, authorization, auth)
    return True
