"""Who is calling, what they may do, and the record of it.

- A bearer token (automation) or the session cookie (the browser); nothing but `/health`
  answers without one (401).
- A mutating call made with the session cookie must carry the CSRF token (`X-CSRF-Token`, the
  value of the `soc_csrf` cookie set at sign-in): a page of another site cannot forge it (403).
- Roles are checked on the server (`require`), tenants too (`Principal.sees`), never only in the UI.
- Every sign-in attempt and every mutating call is appended to the audit trail (soc/audit.py).
- Security headers on every answer.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, HTTPException, Request, Response

from soc.api.accounts import Accounts, Principal
from soc.audit import AuditTrail
from soc.config import Settings
from soc.response.blocks import BlockStore, utcnow

SESSION_COOKIE = "soc_session"
CSRF_COOKIE = "soc_csrf"
CSRF_HEADER = "X-CSRF-Token"
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
SINCE = r"^now(-\d{1,5}[smhdw])?$"  # the relative time ranges the query strings take
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
}


@dataclass
class Services:
    settings: Settings
    es: Any
    accounts: Accounts
    audit: AuditTrail
    blocks: BlockStore
    rule_catalog: Any = None  # detectors.registry.RuleRegistry, loaded on first use (soc/api/routers/rules.py)


def services(request: Request) -> Services:
    return request.app.state.services


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def principal(request: Request, svc: Services = Depends(services)) -> Principal:
    now = utcnow()
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        who = await svc.accounts.by_token(auth[7:].strip(), now)
        if who is None:
            raise HTTPException(401, "令牌无效、已过期或已吊销 (invalid, expired or revoked token)")
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        who = await svc.accounts.by_session(cookie, now) if cookie else None
        if who is None:
            raise HTTPException(401, "请登录，或会话已超时 (sign in; the session may have timed out)")
        request.state.principal = who  # a refusal below is audited under the caller's name
        if request.method in MUTATING and not hmac.compare_digest(
                request.headers.get(CSRF_HEADER, "").encode(), who.csrf.encode()):
            raise HTTPException(403, "缺少或错误的 CSRF 令牌 (missing or wrong CSRF token)")
    request.state.principal = who
    return who


def invalid(message: str, where: str = "body") -> HTTPException:
    """A 422 shaped as FastAPI's own validation errors (`detail: [{loc, msg, type}]`), so every
    422 of the API has the one schema the OpenAPI document gives it."""
    return HTTPException(422, [{"loc": [where], "msg": message, "type": "value_error"}])


def scope(who: Principal) -> list[dict[str, Any]]:
    """The tenant filter of every query for this caller (empty for a caller of every tenant)."""
    return [] if "*" in who.tenants else [{"terms": {"labels.tenant": who.tenants}}]


def require(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller, if they hold one of the roles; 403 otherwise."""

    async def check(who: Principal = Depends(principal)) -> Principal:
        if not who.has(*roles):
            raise HTTPException(403, f"需要角色 (requires a role among): {', '.join(roles)}")
        return who

    return check


def set_session(response: Response, settings: Settings, token: str, csrf: str) -> None:
    secure = settings.api.cookie_secure
    response.set_cookie(SESSION_COOKIE, token, httponly=True, secure=secure, samesite="strict",
                        max_age=settings.api.session_max_s, path="/")
    response.set_cookie(CSRF_COOKIE, csrf, httponly=False, secure=secure, samesite="strict",
                        max_age=settings.api.session_max_s, path="/")


async def audit_call(request: Request, status: int) -> None:
    """Append a mutating call (sign-in is audited by its own route, with the name tried)."""
    if request.method not in MUTATING or request.url.path.endswith("/auth/login"):
        return
    svc: Services = request.app.state.services
    who: Principal | None = getattr(request.state, "principal", None)
    # What a route chose to put on the record of this call (e.g. an override's reason), set with
    # audit_details(); the body itself is never read here (it is the route's to read, once).
    extra = getattr(request.state, "audit_details", None) or {}
    await svc.audit.append(actor=who.name if who else "anonymous", action=f"{request.method} {request.url.path}",
                           outcome="success" if status < 400 else f"failure: HTTP {status}",
                           source_ip=client_ip(request), details={**extra, "via": who.via if who else None})


def audit_details(request: Request, **details: Any) -> None:
    """Add details to the audit record of this call (soc/audit.py): what was decided and why."""
    current = dict(getattr(request.state, "audit_details", None) or {})
    current.update(details)
    request.state.audit_details = current
