"""Sign-in, sign-out, and who am I."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, Field

from soc.api.accounts import Principal
from soc.api.security import SESSION_COOKIE, CSRF_COOKIE, Services, client_ip, principal, services, set_session
from soc.response.blocks import utcnow

router = APIRouter(prefix="/api/v1", tags=["auth"])


class Credentials(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class Me(BaseModel):
    name: str
    roles: list[str]
    tenants: list[str]


@router.post("/auth/login", response_model=Me, responses={401: {}, 423: {}})
async def login(body: Credentials, request: Request, response: Response, svc: Services = Depends(services)) -> Me:
    """Sign in with a password: a session cookie (HttpOnly) and a CSRF cookie; every attempt is audited."""
    who, token, outcome = await svc.accounts.sign_in(body.username, body.password, utcnow())
    await svc.audit.append(actor=body.username, action="sign_in", outcome=outcome, source_ip=client_ip(request))
    if who is None:
        locked = "locked" in outcome
        raise HTTPException(423 if locked else 401,
                            "账户已锁定，请稍后再试 (account locked)" if locked else "用户名或口令错误 (wrong credentials)")
    set_session(response, svc.settings, token, who.csrf)
    return Me(name=who.name, roles=who.roles, tenants=who.tenants)


@router.post("/auth/logout", status_code=204)
async def logout(response: Response, who: Principal = Depends(principal), svc: Services = Depends(services)) -> None:
    await svc.accounts.sign_out(who)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")


@router.get("/me", response_model=Me)
async def me(who: Principal = Depends(principal)) -> Me:
    return Me(name=who.name, roles=who.roles, tenants=who.tenants)
