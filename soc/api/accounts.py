"""Accounts, sessions and tokens of the platform itself, in Elasticsearch.

- Users (`<prefix>-users`): password hashed with Argon2id (argon2-cffi), roles, tenants
  (`*` for all), and the lockout state: `lockout_failures` failed sign-ins in a row lock the
  account for `lockout_s` (MLPS 2.0 8.1.4.1 b).
- Sessions (`<prefix>-sessions`) for the browser: a random token in an HttpOnly cookie, stored
  only as its SHA-256; signed out after `session_idle_s` without a request and after
  `session_max_s` in any case; each has its CSRF token.
- Tokens (`<prefix>-tokens`) for automation: random, stored as SHA-256, expiring, revocable.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from elasticsearch import AsyncElasticsearch, NotFoundError

from soc.config import ApiSettings
from soc.model import iso, parse_iso

ROLES = ("analyst", "officer", "sysadmin", "auditadmin", "regulator", "automation")
_HASHER = PasswordHasher()
_DUMMY = _HASHER.hash("not a password of anyone")


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class Principal:
    """Who is calling: a user (session) or an automation token."""

    name: str
    roles: list[str]
    tenants: list[str]  # ["*"]: every tenant
    via: str  # "session" or "token"
    csrf: str = ""
    session_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def has(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)

    def sees(self, tenant: str | None) -> bool:
        return "*" in self.tenants or (tenant is not None and tenant in self.tenants)


class Accounts:
    def __init__(self, es: AsyncElasticsearch, prefix: str, cfg: ApiSettings) -> None:
        self.es = es
        self.cfg = cfg
        self.users = f"{prefix}-users"
        self.sessions = f"{prefix}-sessions"
        self.tokens = f"{prefix}-tokens"

    async def put_user(self, name: str, password: str, roles: list[str], tenants: list[str]) -> None:
        bad = [r for r in roles if r not in ROLES]
        if bad or not roles:
            raise ValueError(f"roles must be among {', '.join(ROLES)}, not {bad or roles}")
        if {"sysadmin", "auditadmin"} <= set(roles):
            raise ValueError("one person is never both system and audit administrator (MLPS 2.0 8.1.4.2 c, 8.1.5: separated duties)")
        if len(password) < 12:
            raise ValueError("a password has at least 12 characters")
        await self.es.index(index=self.users, id=name, refresh=True, document={
            "name": name, "password_hash": _HASHER.hash(password), "roles": roles, "tenants": tenants or ["*"],
            "failures": 0, "locked_until": None, "disabled": False})

    async def list_users(self) -> list[dict[str, Any]]:
        """Every account, without its password hash."""
        res = await self.es.options(ignore_status=404).search(index=self.users, size=1000, sort=[{"name": "asc"}],
                                                              source_excludes=["password_hash"])
        return [h["_source"] for h in res["hits"]["hits"]] if res.meta.status == 200 else []

    async def set_disabled(self, name: str, disabled: bool) -> bool:
        """Disable (or re-enable) an account; its sessions end at their next request. False: no such user."""
        try:
            await self.es.update(index=self.users, id=name, refresh=True, doc={"disabled": disabled})
        except NotFoundError:
            return False
        return True

    async def sign_in(self, name: str, password: str, now: datetime) -> tuple[Principal | None, str, str]:
        """(principal with a new session, session token, outcome); outcome names why on failure."""
        try:
            hit = await self.es.get(index=self.users, id=name)
        except NotFoundError:
            try:
                _HASHER.verify(_DUMMY, password)  # the same work whether the user exists or not
            except VerificationError:
                pass
            return None, "", "failure: unknown user or wrong password"
        user = hit["_source"]
        if user.get("disabled"):
            return None, "", "failure: account disabled"
        locked = user.get("locked_until")
        if locked and parse_iso(locked) > now:
            return None, "", f"failure: account locked until {locked}"
        try:
            _HASHER.verify(user["password_hash"], password)
        except (VerificationError, InvalidHashError):
            failures = int(user.get("failures", 0)) + 1
            lock = iso(now + timedelta(seconds=self.cfg.lockout_s)) if failures >= self.cfg.lockout_failures else None
            await self.es.update(index=self.users, id=name, refresh=True, doc={
                "failures": 0 if lock else failures, "locked_until": lock},
                if_seq_no=hit["_seq_no"], if_primary_term=hit["_primary_term"])
            return None, "", ("failure: wrong password; account locked until " + lock) if lock \
                else "failure: unknown user or wrong password"
        await self.es.update(index=self.users, id=name, refresh=True, doc={"failures": 0, "locked_until": None})
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        await self.es.index(index=self.sessions, id=digest(token), refresh=True, document={
            "user": name, "csrf": csrf, "created": iso(now), "last_seen": iso(now),
            "expires": iso(now + timedelta(seconds=self.cfg.session_max_s))})
        return Principal(name, user["roles"], user["tenants"], "session", csrf, digest(token)), token, "success"

    async def by_session(self, token: str, now: datetime) -> Principal | None:
        try:
            hit = await self.es.get(index=self.sessions, id=digest(token))
        except NotFoundError:
            return None
        sess = hit["_source"]
        idle = parse_iso(sess["last_seen"]) + timedelta(seconds=self.cfg.session_idle_s)
        if now > idle or now > parse_iso(sess["expires"]):
            await self.es.options(ignore_status=404).delete(index=self.sessions, id=digest(token), refresh=True)
            return None
        try:
            user = (await self.es.get(index=self.users, id=sess["user"]))["_source"]
        except NotFoundError:
            return None
        if user.get("disabled"):
            return None
        await self.es.update(index=self.sessions, id=digest(token), doc={"last_seen": iso(now)}, retry_on_conflict=5)
        return Principal(sess["user"], user["roles"], user["tenants"], "session", sess["csrf"], digest(token))

    async def sign_out(self, principal: Principal) -> None:
        if principal.session_id:
            await self.es.options(ignore_status=404).delete(index=self.sessions, id=principal.session_id, refresh=True)

    async def new_token(self, name: str, roles: list[str], tenants: list[str], valid_s: int, now: datetime) -> str:
        """A bearer token for automation; only its hash is kept, so it is shown once."""
        token = secrets.token_urlsafe(32)
        await self.es.index(index=self.tokens, id=digest(token), refresh=True, document={
            "name": name, "roles": roles, "tenants": tenants or ["*"], "created": iso(now),
            "expires": iso(now + timedelta(seconds=valid_s)), "revoked": False})
        return token

    async def revoke_token(self, name: str) -> int:
        """Revoke every token of that name (no scripts: the local node has no painless)."""
        res = await self.es.options(ignore_status=404).search(index=self.tokens, size=1000,
                                                              query={"term": {"name": name}})
        hits = res.get("hits", {}).get("hits", []) if res.meta.status == 200 else []
        for hit in hits:
            await self.es.update(index=self.tokens, id=hit["_id"], doc={"revoked": True}, refresh=True)
        return len(hits)

    async def by_token(self, token: str, now: datetime) -> Principal | None:
        try:
            t = (await self.es.get(index=self.tokens, id=digest(token)))["_source"]
        except NotFoundError:
            return None
        if t.get("revoked") or now > parse_iso(t["expires"]):
            return None
        return Principal(t["name"], t["roles"], t["tenants"], "token")
