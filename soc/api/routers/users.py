"""Accounts, for the system administrator: list, create, disable (never the audit trail)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from soc.api.accounts import ROLES, Principal
from soc.api.security import Services, invalid, require, services

router = APIRouter(prefix="/api/v1/users", tags=["users"])
NAME = r"^[A-Za-z0-9_.@-]{1,64}$"


class User(BaseModel):
    name: str
    roles: list[str]
    tenants: list[str]
    disabled: bool = False
    failures: int = 0
    locked_until: str | None = None


class NewUser(BaseModel):
    name: str = Field(pattern=NAME)
    password: str = Field(min_length=12, max_length=256)
    roles: list[str] = Field(min_length=1, max_length=len(ROLES), description=f"among {', '.join(ROLES)}")
    tenants: list[str] = Field(default_factory=lambda: ["*"], min_length=1, max_length=200)


class Disable(BaseModel):
    disabled: bool = True


@router.get("", response_model=list[User])
async def list_users(who: Principal = Depends(require("sysadmin")), svc: Services = Depends(services)) -> list[User]:
    return [User(**{k: u.get(k) for k in User.model_fields if k in u}) for u in await svc.accounts.list_users()]


@router.post("", response_model=User, status_code=201)
async def add_user(body: NewUser, who: Principal = Depends(require("sysadmin")),
                   svc: Services = Depends(services)) -> User:
    """Create or replace an account (its password hashed with Argon2id)."""
    try:
        await svc.accounts.put_user(body.name, body.password, body.roles, body.tenants)
    except ValueError as exc:
        raise invalid(str(exc)) from None
    return User(name=body.name, roles=body.roles, tenants=body.tenants)


@router.post("/{name}/disable", response_model=User)
async def disable(name: str, body: Disable, who: Principal = Depends(require("sysadmin")),
                  svc: Services = Depends(services)) -> User:
    if name == who.name and body.disabled:
        raise HTTPException(409, "不能停用自己的账户 (you cannot disable your own account)")
    if not await svc.accounts.set_disabled(name, body.disabled):
        raise HTTPException(404, "没有这个用户 (no such user)")
    found = [u for u in await svc.accounts.list_users() if u["name"] == name]
    return User(**{k: found[0].get(k) for k in User.model_fields if k in found[0]})
