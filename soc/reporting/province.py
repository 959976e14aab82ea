"""The receiving side of upstream notices, as the provincial platform (or a regulator) runs it.

`soc province serve` (soc/reporting/province_cli.py) serves `create_province_app(config)`:

- `POST /api/notices`: the signed envelope (soc/reporting/envelope.py) is checked against the
  senders' public keys (`--keys`, a YAML file: sender id -> key id -> public key); a rejection
  answers 400 / 401 / 409 with JSON `{code, message}` (and `detail`). A good envelope's nonce
  is recorded create-only in `<prefix>-province-nonces` (two receivers on one cluster cannot
  both accept it) and kept for twice the timestamp window. The body must be a JSON object
  (400 `not_json` / `not_object`) valid against docs/notice.schema.json when that file exists
  and a validator is installed (`jsonschema`, else `jsonschema_rs`; else none: logged, and
  `GET /health` says so) — 422 `schema_invalid` otherwise. The notice is then stored once per
  (sender, idempotency key) in `<prefix>-province-notices` (create-only, the document id derived
  from the two): 200 `{receipt_id, notice_id, received_at, duplicate: false, record_id}`. A retry
  (the same idempotency key, a new nonce, the same body) answers the ORIGINAL receipt with
  `duplicate: true` and stores nothing; the same key with another body is 409
  `idempotency_conflict`. `notice_id` is the body's own `notice_id` (the schema requires it),
  else the record id. Elasticsearch unreachable: 503 `unavailable` (the sender retries).
- `GET /` and `GET /notices/{id}`: a read-only Chinese HTML view for regulators; `GET
  /api/notices` and `GET /api/notices/{id}` the same as JSON. Regulators only: HTTP basic auth
  against argon2id hashes, or a bearer token whose SHA-256 is configured (`--regulators` file,
  `soc province regulator`); with none configured, every view is refused (fail closed).
- `GET /health`: no credentials; whether schema validation is on.

Each stored notice keeps what is needed to verify it again later, away from this process: the
body bytes (base64), the envelope headers and the signature.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml
from elasticsearch import ApiError, AsyncElasticsearch, ConflictError, NotFoundError, TransportError
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import DictLoader, Environment, StrictUndefined
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from soc.config import PROJECT_ROOT, Settings
from soc.model import stable_id
from soc.reporting import envelope, sm

log = logging.getLogger("soc.province")

DEFAULT_SCHEMA = PROJECT_ROOT / "docs" / "notice.schema.json"
DEFAULT_PREFIX = "prov"
REALM = "soc-province"
BEIJING = timezone(timedelta(hours=8), "北京时间")
KIND_LABELS = {"initial": "初报", "follow_up": "续报", "final": "总结报告"}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
}


class ProvinceConfigError(ValueError):
    """A keys or regulators file that cannot be used; the message names the file and the entry."""


class ProvinceConfig(BaseModel):
    """What `create_province_app` needs. `from_files` builds it from the CLI's files."""

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    # sender id -> key id -> public key (128 hex x||y; `load_keys` accepts hex or PEM in the file)
    keys: dict[str, dict[str, str]]
    # indices <data_prefix>-province-notices and <data_prefix>-province-nonces
    data_prefix: str = Field(DEFAULT_PREFIX, pattern=r"^[a-z0-9][a-z0-9_.-]{0,60}$")
    # where Elasticsearch is (only its connection settings are used); None: soc.yaml / SOC_*
    settings: Settings | None = None
    window_s: float = Field(envelope.WINDOW_S, gt=0, le=3600)
    # regulators: user name -> argon2id hash (HTTP basic auth); token name -> SHA-256 hex of the token
    regulator_users: dict[str, str] = Field(default_factory=dict)
    regulator_tokens: dict[str, str] = Field(default_factory=dict)
    # the notice body's JSON schema; validated against when the file exists
    schema_file: Path | None = DEFAULT_SCHEMA
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    list_limit: int = Field(200, ge=1, le=10000)

    @field_validator("keys")
    @classmethod
    def _keys(cls, v: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        return {sender: {kid: sm.parse_public(pub) for kid, pub in keys.items()} for sender, keys in v.items()}

    @classmethod
    def from_files(cls, keys_file: Path, regulators_file: Path | None = None, **kw: Any) -> ProvinceConfig:
        users, tokens = load_regulators(regulators_file) if regulators_file else ({}, {})
        return cls(keys=load_keys(keys_file), regulator_users=users, regulator_tokens=tokens, **kw)


def _yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProvinceConfigError(f"{path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ProvinceConfigError(f"{path}: not valid YAML: {exc}") from None


def load_keys(path: Path) -> dict[str, dict[str, str]]:
    """The senders' keys file: `sender: {key_id: public key}`; a public key is hex (128 digits,
    or 130 with 04), PEM text, or the path of a PEM file (relative to the keys file)."""
    path = Path(path)
    data = _yaml(path)
    if not isinstance(data, dict) or not data:
        raise ProvinceConfigError(f"{path}: a mapping sender id -> key id -> public key")
    out: dict[str, dict[str, str]] = {}
    for sender, keys in data.items():
        if not isinstance(sender, str) or not envelope._TOKEN.fullmatch(sender):
            raise ProvinceConfigError(f"{path}: sender {sender!r}: 1-256 visible ASCII characters")
        if not isinstance(keys, dict) or not keys:
            raise ProvinceConfigError(f"{path}: {sender}: a mapping key id -> public key")
        out[sender] = {}
        for key_id, value in keys.items():
            where = f"{path}: {sender}.{key_id}"
            if not isinstance(key_id, str) or not envelope._TOKEN.fullmatch(key_id):
                raise ProvinceConfigError(f"{where}: a key id is 1-256 visible ASCII characters")
            if not isinstance(value, str):
                raise ProvinceConfigError(f"{where}: a public key (hex or PEM) or a .pem path")
            text = value.strip()
            if text.endswith(".pem") and "\n" not in text:
                try:
                    text = (path.parent / text).read_text(encoding="ascii")
                except OSError as exc:
                    raise ProvinceConfigError(f"{where}: {exc}") from None
            try:
                out[sender][key_id] = sm.parse_public(text)
            except ValueError as exc:
                raise ProvinceConfigError(f"{where}: {exc}") from None
    return out


def load_regulators(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """The regulators file: `users: {name: argon2id hash}`, `tokens: {name: sha256 hex}`."""
    path = Path(path)
    data = _yaml(path) or {}
    if not isinstance(data, dict) or set(data) - {"users", "tokens"}:
        raise ProvinceConfigError(f"{path}: a mapping with `users` and/or `tokens`")
    users = data.get("users") or {}
    tokens = data.get("tokens") or {}
    for name, h in users.items():
        if not isinstance(h, str) or not h.startswith("$argon2"):
            raise ProvinceConfigError(f"{path}: users.{name}: an argon2 hash (soc province regulator)")
    for name, h in tokens.items():
        h = str(h).removeprefix("sha256:")
        if len(h) != 64 or any(c not in "0123456789abcdef" for c in h.lower()):
            raise ProvinceConfigError(f"{path}: tokens.{name}: the token's SHA-256, 64 hex digits")
        tokens[name] = h.lower()
    return {str(k): v for k, v in users.items()}, {str(k): v for k, v in tokens.items()}


# ---------------------------------------------------------------- schema validation

def schema_validator(path: Path | None) -> tuple[Callable[[Any], list[str]] | None, str]:
    """(errors-of(doc), how): with `jsonschema` if installed, else `jsonschema_rs`, else none."""
    if path is None or not Path(path).exists():
        return None, f"off: no schema file ({path})"
    schema = json.loads(Path(path).read_text(encoding="utf-8"))
    try:
        import jsonschema  # type: ignore[import-untyped]

        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        v = cls(schema, format_checker=cls.FORMAT_CHECKER)

        def errors(doc: Any) -> list[str]:
            found = sorted(v.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
            return [f"/{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in found[:20]]

        from importlib.metadata import version

        return errors, f"jsonschema {version('jsonschema')}"
    except ImportError:
        pass
    try:
        import jsonschema_rs  # type: ignore[import-not-found]

        vr = jsonschema_rs.validator_for(schema, validate_formats=True)

        def errors_rs(doc: Any) -> list[str]:
            out = []
            for e in vr.iter_errors(doc):
                out.append(f"/{'/'.join(map(str, e.instance_path))}: {e.message}")
                if len(out) >= 20:
                    break
            return out

        return errors_rs, "jsonschema_rs"
    except ImportError:
        return None, "off: neither jsonschema nor jsonschema_rs is installed"


# ---------------------------------------------------------------- storage

NOTICE_MAPPINGS = {
    "dynamic": "strict",
    "properties": {
        "record_id": {"type": "keyword"},
        "receipt_id": {"type": "keyword"},
        "notice_id": {"type": "keyword"},
        "incident_id": {"type": "keyword"},
        "kind": {"type": "keyword"},
        "sequence": {"type": "integer"},
        "grade": {"type": "keyword"},
        "category": {"type": "keyword"},
        "reporting_unit": {"type": "keyword"},
        "sender": {"type": "keyword"},
        "key_id": {"type": "keyword"},
        "idempotency_key": {"type": "keyword"},
        "nonce": {"type": "keyword"},
        "signed_at": {"type": "date"},
        "received_at": {"type": "date"},
        "source_ip": {"type": "keyword"},
        "body_sm3": {"type": "keyword"},
        "schema_validated": {"type": "keyword"},
        "envelope": {"type": "object", "enabled": False},  # the X-SOC-* headers as received
        "body_b64": {"type": "binary"},  # the exact bytes signed
        "notice": {"type": "object", "enabled": False},  # the body, parsed (never mapped)
    },
}
NONCE_MAPPINGS = {
    "dynamic": "strict",
    "properties": {
        "nonce": {"type": "keyword"},
        "seen_at": {"type": "date"},
        "keep_until": {"type": "date"},
    },
}


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _get(doc: Any, *path: str) -> Any:
    for part in path:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(part)
    return doc


def _text(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


class ProvinceService:
    """The receiver: envelope checks, nonces, notices, the regulators' reads."""

    def __init__(self, config: ProvinceConfig, es: AsyncElasticsearch | None = None) -> None:
        self.config = config
        self._es = es
        self.notices_index = f"{config.data_prefix}-province-notices"
        self.nonces_index = f"{config.data_prefix}-province-nonces"
        self.validate, self.validation = schema_validator(config.schema_file)
        if self.validate is None:
            log.warning("notice bodies are not validated against a schema: %s", self.validation)
        self._ready = False
        self._ready_lock = asyncio.Lock()
        self._last_sweep = 0.0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._auth_cache: dict[str, tuple[str, float]] = {}
        from argon2 import PasswordHasher

        self._hasher = PasswordHasher()
        self._dummy_hash = self._hasher.hash(uuid.uuid4().hex)

    @property
    def es(self) -> AsyncElasticsearch:
        if self._es is None:
            from soc.config import load_settings
            from soc.store.client import async_client

            self._es = async_client(self.config.settings or load_settings())
        return self._es

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._es is not None:
            await self._es.close()
            self._es = None

    async def ensure_indices(self) -> None:
        if self._ready:
            return
        async with self._ready_lock:
            if self._ready:
                return
            s = self.config.settings
            replicas = s.elastic.replicas if s else 0
            for name, mappings in ((self.notices_index, NOTICE_MAPPINGS), (self.nonces_index, NONCE_MAPPINGS)):
                if await self.es.indices.exists(index=name):
                    continue
                try:
                    await self.es.indices.create(index=name, mappings=mappings,
                                                 settings={"number_of_shards": 1, "number_of_replicas": replicas})
                except ApiError as exc:
                    if getattr(exc, "error", "") != "resource_already_exists_exception":
                        raise
            self._ready = True

    # ------------------------------------------------ receiving

    async def _seen_nonce(self, nonce: str) -> bool:
        now = datetime.now(UTC)
        try:
            await self.es.create(index=self.nonces_index, id=stable_id("nonce", nonce), document={
                "nonce": nonce, "seen_at": _iso(now),
                "keep_until": _iso(envelope.nonce_keep_until(now, self.config.window_s))})
        except ConflictError:
            return True
        return False

    async def sweep_nonces(self, batches: int = 20) -> int:
        """Forget nonces past keep_until (search, then bulk delete by id: the cluster may have no
        _delete_by_query, docs/elasticsearch-distribution.md). Returns how many went."""
        gone = 0
        for _ in range(batches):
            await self.es.indices.refresh(index=self.nonces_index)
            res = await self.es.search(index=self.nonces_index, query={"range": {"keep_until": {"lt": "now"}}},
                                       size=1000, source=False)
            ids = [h["_id"] for h in res["hits"]["hits"]]
            if not ids:
                break
            await self.es.bulk(operations=[{"delete": {"_index": self.nonces_index, "_id": i}} for i in ids])
            gone += len(ids)
            if len(ids) < 1000:
                break
        return gone

    def _sweep_soon(self) -> None:
        """Run sweep_nonces in the background, at most once a minute."""
        if time.monotonic() - self._last_sweep < 60:
            return
        self._last_sweep = time.monotonic()

        async def sweep() -> None:
            try:
                await self.sweep_nonces()
            except Exception as exc:  # noqa: BLE001 - the next sweep tries again
                log.warning("nonce sweep failed: %s", exc)

        task = asyncio.get_running_loop().create_task(sweep())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def receive(self, headers: Any, body: bytes, source_ip: str | None = None,
                      now: datetime | None = None) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON answer) for one delivery attempt."""
        await self.ensure_indices()
        now = now or datetime.now(UTC)
        result = await envelope.open_async(headers, body, self.config.keys, now, self._seen_nonce,
                                           self.config.window_s)
        if isinstance(result, envelope.Rejection):
            log.warning("notice refused from %s: %s %s", source_ip, result.code, result.detail)
            return result.status, result.as_json()
        self._sweep_soon()
        try:
            notice = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            return 400, {"code": "not_json", "message": "报文不是有效的 JSON（UTF-8） / the body is not JSON (UTF-8)",
                         "detail": str(exc)[:300]}
        if not isinstance(notice, dict):
            return 400, {"code": "not_object", "message": "报文应为 JSON 对象 / the body must be a JSON object"}
        if self.validate is not None:
            problems = await asyncio.to_thread(self.validate, notice)
            if problems:
                return 422, {"code": "schema_invalid",
                             "message": "报文不符合通报格式（notice.schema.json） / the notice does not match its schema",
                             "detail": "; ".join(problems)[:2000]}
        record_id = stable_id("province-notice", result.sender, result.idempotency_key)
        received = datetime.now(UTC)
        doc = {
            "record_id": record_id,
            "receipt_id": f"RCPT-{received:%Y%m%d}-{uuid.uuid4().hex[:16]}",
            "notice_id": _text(notice.get("notice_id")) or record_id,
            "incident_id": _text(notice.get("incident_id")),
            "kind": _text(notice.get("kind")),
            "sequence": notice.get("sequence") if isinstance(notice.get("sequence"), int) else None,
            "grade": _text(_get(notice, "classification", "grade")),
            "category": _text(_get(notice, "classification", "category")),
            "reporting_unit": _text(_get(notice, "reporting_unit", "name")),
            "sender": result.sender,
            "key_id": result.key_id,
            "idempotency_key": result.idempotency_key,
            "nonce": result.nonce,
            "signed_at": _iso(result.issued_at),
            "received_at": _iso(received),
            "source_ip": source_ip,
            "body_sm3": result.body_sm3,
            "schema_validated": self.validation if self.validate is not None else "off",
            "envelope": {h: v for h, v in zip(envelope.HEADERS, (
                result.sender, result.key_id, result.timestamp, result.nonce, result.idempotency_key,
                result.signature), strict=True)},
            "body_b64": base64.b64encode(body).decode("ascii"),
            "notice": notice,
        }
        try:
            await self.es.create(index=self.notices_index, id=record_id, document=doc, refresh="wait_for")
        except ConflictError:
            original = (await self.es.get(index=self.notices_index, id=record_id))["_source"]
            if original.get("body_sm3") != result.body_sm3:
                return 409, {"code": "idempotency_conflict",
                             "message": "该幂等键已用于内容不同的通报 / this idempotency key was already used for "
                                        "a different notice body",
                             "detail": f"record {record_id}, received {original.get('received_at')}"}
            log.info("retry of %s from %s (idempotency key %s): original receipt %s", record_id,
                     result.sender, result.idempotency_key, original.get("receipt_id"))
            return 200, receipt(original, duplicate=True)
        log.info("notice %s accepted from %s (key %s): receipt %s", doc["notice_id"], result.sender,
                 result.key_id, doc["receipt_id"])
        return 200, receipt(doc, duplicate=False)

    # ------------------------------------------------ reading (regulators)

    async def list_notices(self, limit: int, offset: int = 0, sender: str | None = None) -> tuple[int, list[dict]]:
        await self.ensure_indices()
        query: dict[str, Any] = {"term": {"sender": sender}} if sender else {"match_all": {}}
        res = await self.es.search(index=self.notices_index, query=query, size=limit, from_=offset,
                                   sort=[{"received_at": "desc"}], track_total_hits=True,
                                   source_excludes=["body_b64", "notice", "envelope"])
        return res["hits"]["total"]["value"], [h["_source"] for h in res["hits"]["hits"]]

    async def get_notice(self, ident: str) -> dict[str, Any] | None:
        """A notice by its record id, or by its notice_id when exactly one record has it."""
        await self.ensure_indices()
        try:
            return (await self.es.get(index=self.notices_index, id=ident))["_source"]
        except NotFoundError:
            pass
        res = await self.es.search(index=self.notices_index, query={"term": {"notice_id": ident}}, size=2)
        hits = res["hits"]["hits"]
        return hits[0]["_source"] if len(hits) == 1 else None

    # ------------------------------------------------ regulators' credentials

    async def regulator(self, authorization: str) -> str | None:
        """The regulator's name for an Authorization header, or None."""
        scheme, _, value = authorization.strip().partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer" and value:
            digest = hashlib.sha256(value.encode()).hexdigest()
            who = None
            for name, h in self.config.regulator_tokens.items():
                if hmac.compare_digest(digest, h):
                    who = name
            return who
        if scheme.lower() != "basic" or not value:
            return None
        cache_key = hashlib.sha256(authorization.encode()).hexdigest()
        hit = self._auth_cache.get(cache_key)
        if hit and hit[1] > time.monotonic():
            return hit[0]
        try:
            user, sep, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, ValueError):
            return None
        if not sep:
            return None
        stored = self.config.regulator_users.get(user)
        ok = await asyncio.to_thread(self._check_password, stored or self._dummy_hash, password)
        if not (ok and stored):
            return None
        if len(self._auth_cache) > 1000:
            self._auth_cache.clear()
        self._auth_cache[cache_key] = (user, time.monotonic() + 60)
        return user

    def _check_password(self, stored: str, password: str) -> bool:
        from argon2.exceptions import Argon2Error, InvalidHashError

        try:
            return self._hasher.verify(stored, password)
        except (Argon2Error, InvalidHashError):
            return False


def receipt(doc: dict[str, Any], duplicate: bool) -> dict[str, Any]:
    return {"receipt_id": doc["receipt_id"], "notice_id": doc["notice_id"], "received_at": doc["received_at"],
            "duplicate": duplicate, "record_id": doc["record_id"]}


# ---------------------------------------------------------------- HTML (read-only, escaped)

_BASE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{% block title %}{% endblock %} · 网络安全事件通报</title>
<style>
body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #ccc;padding:.35em .6em;text-align:left;vertical-align:top}
th{background:#f2f4f7}pre{background:#f7f7f7;padding:1em;overflow:auto;white-space:pre-wrap;word-break:break-all}
.muted{color:#666;font-size:.9em}code{word-break:break-all}
</style></head><body>
<p class="muted">省级网络安全事件通报接收（只读） · 当前用户 {{ who }}</p>
{% block body %}{% endblock %}
</body></html>"""

_LIST = """{% extends "base" %}{% block title %}通报列表{% endblock %}{% block body %}
<h1>已接收的网络安全事件通报</h1>
<p class="muted">共 {{ total }} 份{% if sender %}（报送单位 {{ sender }}）{% endif %}，按接收时间倒序，显示 {{ rows|length }} 份。时间为北京时间。</p>
<table><thead><tr><th>接收时间</th><th>报送单位</th><th>报告单位</th><th>类型</th><th>事件级别</th><th>事件类别</th><th>通报编号</th><th>事件编号</th></tr></thead><tbody>
{% for n in rows %}<tr>
<td>{{ n.received_local }}</td><td>{{ n.sender }}</td><td>{{ n.reporting_unit or "—" }}</td><td>{{ n.kind_label }}</td>
<td>{{ n.grade or "—" }}</td><td>{{ n.category or "—" }}</td>
<td><a href="/notices/{{ n.record_id|urlencode }}">{{ n.notice_id }}</a></td><td>{{ n.incident_id or "—" }}</td>
</tr>{% else %}<tr><td colspan="8">尚无通报</td></tr>{% endfor %}
</tbody></table>{% endblock %}"""

_DETAIL = """{% extends "base" %}{% block title %}通报 {{ n.notice_id }}{% endblock %}{% block body %}
<p><a href="/">← 通报列表</a></p>
<h1>通报 {{ n.notice_id }}</h1>
<table>
<tr><th>类型</th><td>{{ n.kind_label }}{% if n.sequence %}（第 {{ n.sequence }} 次报告）{% endif %}</td></tr>
<tr><th>事件级别</th><td>{{ n.grade or "—" }}</td></tr>
<tr><th>事件类别</th><td>{{ n.category or "—" }}</td></tr>
<tr><th>事件编号</th><td>{{ n.incident_id or "—" }}</td></tr>
<tr><th>报告单位</th><td>{{ n.reporting_unit or "—" }}</td></tr>
<tr><th>报送单位（签名者）</th><td>{{ n.sender }}</td></tr>
<tr><th>签名密钥</th><td><code>{{ n.key_id }}</code></td></tr>
<tr><th>签名时间</th><td>{{ n.signed_local }}</td></tr>
<tr><th>接收时间</th><td>{{ n.received_local }}</td></tr>
<tr><th>回执编号</th><td><code>{{ n.receipt_id }}</code></td></tr>
<tr><th>幂等键</th><td><code>{{ n.idempotency_key }}</code></td></tr>
<tr><th>报文 SM3</th><td><code>{{ n.body_sm3 }}</code></td></tr>
<tr><th>SM2 签名</th><td><code>{{ n.envelope.get("X-SOC-Signature", "") }}</code><br><span class="muted">接收时已验签通过（SM2/SM3，GB/T 32918）</span></td></tr>
<tr><th>格式校验</th><td>{{ n.schema_validated }}</td></tr>
</table>
{% for label, value in fields %}<h2>{{ label }}</h2><pre>{{ value }}</pre>{% endfor %}
<h2>通报原文（JSON）</h2>
<pre>{{ body }}</pre>{% endblock %}"""

_ENV = Environment(loader=DictLoader({"base": _BASE, "list": _LIST, "detail": _DETAIL}), autoescape=True,
                   undefined=StrictUndefined)
_TEXT_FIELDS = (("impact", "已造成的影响和危害"), ("measures_taken", "已采取的应对措施及效果"),
                ("trend", "事态发展趋势"), ("cause", "初步分析的事件原因"), ("further_measures", "拟进一步采取的措施"),
                ("support_requested", "请求支援事项"), ("scene_preservation", "事件现场保护情况"))


def _local(iso: str | None) -> str:
    if not iso:
        return "—"
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return iso


def _view(n: dict[str, Any]) -> dict[str, Any]:
    return {**n, "kind_label": KIND_LABELS.get(n.get("kind") or "", n.get("kind") or "—"),
            "received_local": _local(n.get("received_at")), "signed_local": _local(n.get("signed_at")),
            "envelope": n.get("envelope") or {}}


# ---------------------------------------------------------------- the app

def create_province_app(config: ProvinceConfig, es: AsyncElasticsearch | None = None) -> FastAPI:
    """The receiver's ASGI app (see the module docstring). `app.state.province` is the service;
    `await app.state.province.close()` when not run under a server that sends lifespan events."""
    service = ProvinceService(config, es)

    @asynccontextmanager
    async def lifespan(_: FastAPI):  # type: ignore[no-untyped-def]
        try:
            await service.ensure_indices()
        except (ApiError, TransportError) as exc:
            log.warning("Elasticsearch not ready at start (%s); indices are created on first use", exc)
        yield
        await service.close()

    app = FastAPI(title="省级安全运营平台 · 通报接收 (provincial notice receiver)", lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.state.province = service

    @app.middleware("http")
    async def headers_mw(request: Request, call_next):  # type: ignore[no-untyped-def]
        try:
            response = await call_next(request)
        except (ApiError, TransportError) as exc:
            log.error("Elasticsearch error on %s %s: %s", request.method, request.url.path, exc)
            response = JSONResponse({"code": "unavailable", "message": "存储暂不可用，请稍后重试 / storage unavailable, "
                                                                        "retry later"}, status_code=503)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    async def regulator(request: Request) -> str:
        who = await service.regulator(request.headers.get("authorization", ""))
        if who is None:
            raise HTTPException(401, "需要监管人员凭据 / regulator credentials required",
                                headers={"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'})
        log.info("regulator %s read %s", who, request.url.path)
        return who

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {401: "unauthorized", 404: "not_found", 413: "too_large"}.get(exc.status_code, "error")
        return JSONResponse({"code": code, "message": str(exc.detail)}, status_code=exc.status_code,
                            headers=exc.headers)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "schema_validation": service.validation,
                "indices": [service.notices_index, service.nonces_index]}

    @app.post("/api/notices")
    async def post_notice(request: Request) -> Response:
        limit = config.max_body_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise HTTPException(413, f"报文过大 / the body is larger than {limit} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise HTTPException(413, f"报文过大 / the body is larger than {limit} bytes")
            chunks.append(chunk)
        status, answer = await service.receive(request.headers, b"".join(chunks),
                                               request.client.host if request.client else None)
        return JSONResponse(answer, status_code=status)

    @app.get("/api/notices")
    async def api_list(request: Request, limit: int = Query(50, ge=1, le=1000), offset: int = Query(0, ge=0, le=10000),
                       sender: str | None = None) -> dict[str, Any]:
        await regulator(request)
        total, rows = await service.list_notices(limit, offset, sender)
        return {"total": total, "notices": rows}

    @app.get("/api/notices/{ident}")
    async def api_detail(request: Request, ident: str) -> dict[str, Any]:
        await regulator(request)
        n = await service.get_notice(ident)
        if n is None:
            raise HTTPException(404, "无此通报 / no such notice")
        return n

    @app.get("/", response_class=HTMLResponse)
    async def html_list(request: Request, sender: str | None = None) -> HTMLResponse:
        who = await regulator(request)
        total, rows = await service.list_notices(config.list_limit, 0, sender)
        page = _ENV.get_template("list").render(who=who, total=total, sender=sender, rows=[_view(n) for n in rows])
        return HTMLResponse(page)

    @app.get("/notices/{ident}", response_class=HTMLResponse)
    async def html_detail(request: Request, ident: str) -> HTMLResponse:
        who = await regulator(request)
        n = await service.get_notice(ident)
        if n is None:
            raise HTTPException(404, "无此通报 / no such notice")
        notice = n.get("notice") or {}
        fields = [(label, notice[k]) for k, label in _TEXT_FIELDS if isinstance(notice.get(k), str)]
        body = json.dumps(notice, ensure_ascii=False, indent=2)
        return HTMLResponse(_ENV.get_template("detail").render(who=who, n=_view(n), fields=fields, body=body))

    return app
