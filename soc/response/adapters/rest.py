"""A generic REST firewall adapter: any vendor with an HTTP API, configured entirely by data.

A `RestAdapterConfig` says which request blocks an address and which lifts the block: method,
path, JSON body and headers are Jinja2 templates (sandboxed, strict: an unknown variable is an
error, never an empty string) over these variables:

    target   the address or CIDR block as given ("203.0.113.5", "198.51.100.0/24")
    ip       its (network) address              "203.0.113.5"
    prefix   its prefix length                  32 (128 for one IPv6 address)
    netmask  the IPv4/IPv6 netmask              "255.255.255.255"
    name     a stable object name               "soc-203-0-113-5", "soc-198-51-100-0-24"
    scope    a tenant or "all"
    ttl_s    the TTL in seconds                 (block only)
    ttl_min  the TTL in minutes, rounded up     (block only)

A body renders to text that must parse as JSON (use `{{ scope | tojson }}` for free text). The
answer counts as success when its status is in `success_status` and, with `success_json`, when
a dotted path of the JSON answer equals a value (many devices answer HTTP 200 with an error code
in the body). For unblock, a status in `already_absent_status` (404 by default) is success too.

`validate()` renders every template with sample values, so a bad config is rejected when it is
loaded (`RestAdapter` calls it), not at the first attack. Every failure raises `AdapterError`
naming the adapter, the method, the URL (no credentials, no query string) and the reason, with
at most 200 characters of the answer; secrets are masked even where the device echoes them.

The adapter does not retry: one call is one request. The enforcer (soc/response/enforce.py)
retries with backoff and records every attempt. Redirects are not followed (a 3xx is a failure).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from soc.model import get_path
from soc.response.adapters import AdapterError

BODY_EXCERPT = 200
SAMPLE_TARGETS = ("203.0.113.5", "198.51.100.0/24", "2001:db8::1")
_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_MISSING = object()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RequestSpec(_Strict):
    """One HTTP request; path, body and header values are templates."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    path: str = Field(pattern=r"^/")  # appended to base_url
    body: str | None = None  # renders to JSON text
    headers: dict[str, str] = Field(default_factory=dict)


class NoAuth(_Strict):
    type: Literal["none"] = "none"


class BearerAuth(_Strict):
    type: Literal["bearer"]
    token: SecretStr


class BasicAuth(_Strict):
    type: Literal["basic"]
    username: str
    password: SecretStr


class HeaderAuth(_Strict):
    type: Literal["header"]
    name: str = Field(min_length=1)  # e.g. X-API-Key
    value: SecretStr


Auth = Annotated[NoAuth | BearerAuth | BasicAuth | HeaderAuth, Field(discriminator="type")]
Status = Annotated[int, Field(ge=100, le=599)]


class SuccessJson(_Strict):
    """The answer's JSON at a dotted path must equal a value, e.g. {path: code, equals: 0}."""

    path: str = Field(min_length=1)
    equals: Any


class RestAdapterConfig(_Strict):
    name: str = Field(min_length=1)
    base_url: str
    block: RequestSpec
    unblock: RequestSpec
    auth: Auth = NoAuth()
    verify_tls: bool = True
    ca_file: Path | None = None  # a PEM bundle to trust instead of the system's
    timeout_s: float = Field(10.0, gt=0, le=300)
    success_status: list[Status] = Field(default_factory=lambda: [200, 201, 202, 204], min_length=1)
    success_json: SuccessJson | None = None
    already_absent_status: list[Status] = Field(default_factory=lambda: [404])  # unblock only

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        try:
            url = httpx.URL(value)
        except httpx.InvalidURL as exc:
            raise ValueError(f"not a URL: {exc}") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("an http:// or https:// URL with a host")
        if url.userinfo:
            raise ValueError("no credentials in the URL: use auth")
        if url.query or url.fragment:
            raise ValueError("no query or fragment: put them in the request paths")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _tls(self) -> RestAdapterConfig:
        if self.ca_file is not None and not self.verify_tls:
            raise ValueError("ca_file is given but verify_tls is false")
        return self


@dataclass(frozen=True)
class RenderedRequest:
    method: str
    url: httpx.URL
    headers: dict[str, str]
    body: bytes | None


def variables(target: str, scope: str, ttl_s: int | None = None) -> dict[str, Any]:
    """The template variables for one target; ttl_s and ttl_min only when blocking."""
    try:
        net = ipaddress.ip_network(target.strip(), strict=False)
    except ValueError as exc:
        raise AdapterError(f"not an address or CIDR block: {target!r} ({exc})") from None
    ip = str(net.network_address)
    name = ip if net.prefixlen == net.max_prefixlen else f"{ip}/{net.prefixlen}"
    values: dict[str, Any] = {
        "target": target, "ip": ip, "prefix": net.prefixlen, "netmask": str(net.netmask),
        "name": "soc-" + name.replace(".", "-").replace(":", "-").replace("/", "-"), "scope": scope,
    }
    if ttl_s is not None:
        values |= {"ttl_s": ttl_s, "ttl_min": -(-ttl_s // 60)}
    return values


def _render(what: str, template: str, values: dict[str, Any]) -> str:
    try:
        return _ENV.from_string(template).render(values)
    except Exception as exc:  # syntax, undefined, sandbox and plain Python errors alike
        raise AdapterError(f"{what} template: {type(exc).__name__}: {exc}") from None


def build_request(config: RestAdapterConfig, action: Literal["block", "unblock"],
                  values: dict[str, Any]) -> RenderedRequest:
    """Render one request of config; AdapterError (without the adapter name) if it cannot."""
    spec = config.block if action == "block" else config.unblock
    path = _render(f"{action}.path", spec.path, values)
    try:
        url = httpx.URL(config.base_url + path)
    except httpx.InvalidURL as exc:
        raise AdapterError(f"{action}.path renders to an invalid URL: {exc}") from None
    headers = {"Accept": "application/json"}
    body = None
    if spec.body is not None:
        text = _render(f"{action}.body", spec.body, values)
        try:
            json.loads(text)
        except ValueError as exc:
            raise AdapterError(f"{action}.body is not JSON ({exc}): {text[:BODY_EXCERPT]}") from None
        headers["Content-Type"] = "application/json"
        body = text.encode("utf-8")
    for key, value in spec.headers.items():
        headers[key] = _render(f"{action}.headers.{key}", value, values)
    return RenderedRequest(spec.method, url, headers, body)


def validate(config: RestAdapterConfig) -> None:
    """Render every request with sample values; AdapterError listing each problem."""
    problems: list[str] = []
    for target in SAMPLE_TARGETS:
        for action, ttl in (("block", 3600), ("unblock", None)):
            try:
                build_request(config, action, variables(target, "all", ttl))
            except AdapterError as exc:
                if str(exc) not in problems:
                    problems.append(str(exc))
    if config.ca_file is not None and not config.ca_file.is_file():
        problems.append(f"ca_file {config.ca_file} is not a readable file")
    if problems:
        raise AdapterError(f"{config.name}: " + "\n".join(problems))


def _public_url(url: httpx.URL) -> str:
    """The URL for a message: no credentials, no query string (it may hold an API key)."""
    bare = str(url.copy_with(username=None, password=None, query=None, fragment=None))
    return bare + ("?…" if url.query else "")


class RestAdapter:
    """Blocks and unblocks through one device's HTTP API (one request per call, no retries)."""

    def __init__(self, config: RestAdapterConfig) -> None:
        validate(config)
        self.config = config
        self.name = config.name
        self._verify: ssl.SSLContext | bool = config.verify_tls
        if config.ca_file is not None:
            try:
                self._verify = ssl.create_default_context(cafile=str(config.ca_file))
            except (OSError, ssl.SSLError) as exc:
                raise AdapterError(f"{self.name}: ca_file {config.ca_file}: {exc}") from None
        self._auth_headers, self._secrets = self._auth(config.auth)

    @staticmethod
    def _auth(auth: Auth) -> tuple[dict[str, str], list[str]]:
        """The headers that authenticate, and every form of the secret to mask in messages."""
        if isinstance(auth, BearerAuth):
            token = auth.token.get_secret_value()
            return {"Authorization": f"Bearer {token}"}, [token]
        if isinstance(auth, BasicAuth):
            password = auth.password.get_secret_value()
            pair = base64.b64encode(f"{auth.username}:{password}".encode()).decode()
            return {"Authorization": f"Basic {pair}"}, [password, pair]
        if isinstance(auth, HeaderAuth):
            value = auth.value.get_secret_value()
            return {auth.name: value}, [value]
        return {}, []

    async def block(self, target: str, ttl_s: int, scope: str) -> None:
        await self._call("block", target, scope, ttl_s)

    async def unblock(self, target: str, scope: str) -> None:
        await self._call("unblock", target, scope)

    async def _call(self, action: Literal["block", "unblock"], target: str, scope: str,
                    ttl_s: int | None = None) -> None:
        try:
            request = build_request(self.config, action, variables(target, scope, ttl_s))
        except AdapterError as exc:
            raise AdapterError(f"{self.name}: {action}: {exc}") from None
        where = f"{self.name}: {request.method} {_public_url(request.url)}"
        headers = httpx.Headers(request.headers)
        headers.update(self._auth_headers)  # case-insensitive: auth wins over a configured header
        try:
            async with httpx.AsyncClient(verify=self._verify, timeout=self.config.timeout_s,
                                         follow_redirects=False) as client:
                answer = await client.request(request.method, request.url, content=request.body,
                                              headers=headers)
        except httpx.TimeoutException as exc:
            raise AdapterError(f"{where}: timed out after {self.config.timeout_s}s "
                               f"({type(exc).__name__})") from None
        except httpx.HTTPError as exc:  # connection refused, TLS, protocol errors
            raise AdapterError(f"{where}: {type(exc).__name__}: {self._mask(str(exc))}") from None
        if action == "unblock" and answer.status_code in self.config.already_absent_status:
            return  # nothing to unblock
        excerpt = self._mask(answer.text)[:BODY_EXCERPT]  # masked before it is cut
        if answer.status_code not in self.config.success_status:
            raise AdapterError(f"{where}: HTTP {answer.status_code}: {excerpt}")
        check = self.config.success_json
        if check is None:
            return
        try:
            doc = answer.json()
        except ValueError:
            raise AdapterError(f"{where}: the answer is not JSON: {excerpt}") from None
        found = get_path(doc, check.path, _MISSING) if isinstance(doc, dict) else _MISSING
        if found is _MISSING or found != check.equals:
            got = "missing" if found is _MISSING else f"{found!r}"
            raise AdapterError(f"{where}: {check.path} is {got}, expected {check.equals!r}: {excerpt}")

    def _mask(self, message: str) -> str:
        """Mask the secrets where they could come back: an answer or an HTTP library error."""
        for secret in self._secrets:
            if secret:
                message = message.replace(secret, "***")
        return message
