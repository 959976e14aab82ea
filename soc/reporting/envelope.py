"""The signed envelope of a notice sent upstream: HTTP headers around the unchanged body.

`seal` gives the headers for one delivery attempt; `open_` (and `open_async`, for servers) checks
them on the receiving side and answers `Sealed` or a `Rejection` with a reason code and a
bilingual message. The format is documented in docs/upstream.md ("The envelope"):

    X-SOC-Sender           the sender's id (as the receiver's key file names it)
    X-SOC-Key-Id           which of the sender's keys signed
    X-SOC-Timestamp        when this attempt was signed, ISO-8601 UTC: 2025-06-01T08:00:00.123Z
    X-SOC-Nonce            32 hex digits (128 random bits), fresh for every attempt
    X-SOC-Idempotency-Key  stable across the retries of one notice
    X-SOC-Signature        base64 DER SM2 signature (soc/reporting/sm.py, uid 1234567812345678)
                           over the canonical message below

The canonical message is seven lines joined by "\\n" (no trailing newline), ASCII:

    SOC-NOTICE-SM2-SM3-v1
    <sender>
    <key id>
    <timestamp, exactly as in the header>
    <nonce>
    <idempotency key>
    <SM3 of the body, 64 lower-case hex digits>

SM3 rather than SHA-256 for the body: the whole chain stays on the GM algorithms (GB/T 39786
asks for them on government systems). Sender, key id, timestamp, nonce and idempotency key are
1-256 visible ASCII characters (0x21-0x7E: no space, no newline, so the lines cannot be forged
by splitting), the nonce 16-128 of [A-Za-z0-9_-].

Checks on receipt, in this order (cheap ones first, so an unsigned flood costs no SM2 work):
well-formed headers (`malformed`, 400) → known sender and key (`unknown_sender`,
`unknown_key`, 401) → timestamp within ±window (`stale_timestamp`, 401) → signature
(`bad_signature`, 401) → nonce never seen (`replayed`, 409). The nonce is offered to
`seen_nonce` only once the signature is good, so nobody but the key holder can use up nonces.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from soc.reporting import sm

VERSION = "SOC-NOTICE-SM2-SM3-v1"
WINDOW_S = 300.0  # a timestamp farther than this from the receiver's clock is stale

H_SENDER = "X-SOC-Sender"
H_KEY_ID = "X-SOC-Key-Id"
H_TIMESTAMP = "X-SOC-Timestamp"
H_NONCE = "X-SOC-Nonce"
H_IDEMPOTENCY = "X-SOC-Idempotency-Key"
H_SIGNATURE = "X-SOC-Signature"
HEADERS = (H_SENDER, H_KEY_ID, H_TIMESTAMP, H_NONCE, H_IDEMPOTENCY, H_SIGNATURE)

_TOKEN = re.compile(r"[\x21-\x7e]{1,256}")
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,128}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})")
_SIG = re.compile(r"[A-Za-z0-9+/]{20,200}={0,2}")

# code -> (HTTP status, message 中文 / English)
REASONS: dict[str, tuple[int, str]] = {
    "malformed": (400, "信封头缺失或格式错误 / the envelope headers are missing or malformed"),
    "unknown_sender": (401, "未登记的报送单位 / unknown sender"),
    "unknown_key": (401, "该报送单位无此密钥 / unknown key id for this sender"),
    "stale_timestamp": (401, "时间戳超出允许范围（±{window} 秒），请校准时钟后重新签名发送 / "
                             "the timestamp is outside the allowed window (±{window} s): check the clock and sign again"),
    "bad_signature": (401, "签名验证失败：报文被篡改或签名密钥不符 / "
                           "bad signature: the body or headers were altered, or another key signed"),
    "replayed": (409, "该随机数已使用过，疑似重放 / the nonce was already used: a replayed request"),
}


@dataclass(frozen=True)
class Sealed:
    """An envelope that passed every check."""

    sender: str
    key_id: str
    timestamp: str  # as sent (the signed string)
    issued_at: datetime  # the timestamp, parsed (UTC)
    nonce: str
    idempotency_key: str
    body_sm3: str
    signature: str
    ok: bool = True


@dataclass(frozen=True)
class Rejection:
    """Why an envelope was refused: a stable code, the HTTP status, a message 中文 / English."""

    code: str
    message: str
    status: int
    detail: str = ""  # which header, how far off the clock was... (safe to show the sender)
    ok: bool = False

    def as_json(self) -> dict[str, str]:
        out = {"code": self.code, "message": self.message}
        if self.detail:
            out["detail"] = self.detail
        return out


def reject(code: str, detail: str = "", window_s: float = WINDOW_S) -> Rejection:
    status, message = REASONS[code]
    return Rejection(code, message.format(window=int(window_s)), status, detail)


def _utc(now: datetime | float | int | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if isinstance(now, int | float):
        return datetime.fromtimestamp(now, UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    return now.astimezone(UTC)


def format_timestamp(when: datetime) -> str:
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def canonical(sender: str, key_id: str, timestamp: str, nonce: str, idempotency_key: str,
              body_sm3: str) -> bytes:
    """The bytes signed (see the module docstring)."""
    return "\n".join((VERSION, sender, key_id, timestamp, nonce, idempotency_key, body_sm3)).encode("ascii")


def new_nonce() -> str:
    return secrets.token_hex(16)


def seal(body: bytes, sender: str, key_id: str, idempotency_key: str, private_hex: str,
         public_hex: str, now: datetime | float | None = None, *, nonce: str | None = None) -> dict[str, str]:
    """The six X-SOC-* headers of one delivery attempt of body (call it again for each retry:
    new timestamp and nonce, the same idempotency key)."""
    if not isinstance(body, bytes | bytearray):
        raise TypeError("the body is bytes")
    for name, value in ((H_SENDER, sender), (H_KEY_ID, key_id), (H_IDEMPOTENCY, idempotency_key)):
        if not isinstance(value, str) or not _TOKEN.fullmatch(value):
            raise ValueError(f"{name}: 1-256 visible ASCII characters, no spaces (got {value!r})")
    nonce = nonce or new_nonce()
    if not _NONCE.fullmatch(nonce):
        raise ValueError("the nonce: 16-128 of [A-Za-z0-9_-]")
    timestamp = format_timestamp(_utc(now))
    digest = sm.sm3_hex(bytes(body))
    signature = sm.sign(private_hex, public_hex, canonical(sender, key_id, timestamp, nonce, idempotency_key, digest))
    return {
        H_SENDER: sender,
        H_KEY_ID: key_id,
        H_TIMESTAMP: timestamp,
        H_NONCE: nonce,
        H_IDEMPOTENCY: idempotency_key,
        H_SIGNATURE: signature,
    }


def _header_values(headers: Any) -> dict[str, list[str]]:
    """Lower-cased name -> every value given (a dict, starlette/httpx Headers, or pairs)."""
    if hasattr(headers, "multi_items"):
        items = headers.multi_items()
    elif hasattr(headers, "raw") and isinstance(getattr(headers, "raw"), list):
        items = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers.raw]
    elif isinstance(headers, Mapping):
        items = list(headers.items())
    else:
        items = list(headers)
    out: dict[str, list[str]] = {}
    for k, v in items:
        out.setdefault(str(k).lower(), []).append(str(v))
    return out


@dataclass(frozen=True)
class _Parsed:
    sender: str
    key_id: str
    timestamp: str
    issued_at: datetime
    nonce: str
    idempotency_key: str
    signature: str
    public_hex: str


def _lookup(keys: Mapping[str, Any], sender: str, key_id: str) -> str | Rejection:
    """keys: sender -> key id -> public key (binds keys to senders), or key id -> public key."""
    nested = any(isinstance(v, Mapping) for v in keys.values())
    if nested:
        per_sender = keys.get(sender)
        if not isinstance(per_sender, Mapping):
            return reject("unknown_sender", f"{H_SENDER}: {sender}")
        public = per_sender.get(key_id)
    else:
        if not keys:
            return reject("unknown_sender", f"{H_SENDER}: {sender}")
        public = keys.get(key_id)
    if not isinstance(public, str):
        return reject("unknown_key", f"{H_KEY_ID}: {key_id}")
    return public


def _precheck(headers: Any, keys: Mapping[str, Any], now: datetime | float | None,
              window_s: float) -> _Parsed | Rejection:
    values = _header_values(headers)
    got: dict[str, str] = {}
    for name in HEADERS:
        found = values.get(name.lower(), [])
        if len(found) != 1:
            return reject("malformed", f"{name}: {'missing' if not found else 'given more than once'}")
        got[name] = found[0].strip()
    for name in (H_SENDER, H_KEY_ID, H_IDEMPOTENCY):
        if not _TOKEN.fullmatch(got[name]):
            return reject("malformed", f"{name}: 1-256 visible ASCII characters")
    if not _NONCE.fullmatch(got[H_NONCE]):
        return reject("malformed", f"{H_NONCE}: 16-128 of [A-Za-z0-9_-]")
    if not _SIG.fullmatch(got[H_SIGNATURE]):
        return reject("malformed", f"{H_SIGNATURE}: base64")
    ts = got[H_TIMESTAMP]
    try:
        if not _TIME.fullmatch(ts):
            raise ValueError(ts)
        issued = datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return reject("malformed", f"{H_TIMESTAMP}: ISO-8601 with a zone, e.g. 2025-06-01T08:00:00.000Z")
    public = _lookup(keys, got[H_SENDER], got[H_KEY_ID])
    if isinstance(public, Rejection):
        return public
    skew = (issued - _utc(now)).total_seconds()
    if abs(skew) > window_s:
        return reject("stale_timestamp", f"{H_TIMESTAMP} is {skew:+.0f} s from the receiver's clock", window_s)
    return _Parsed(got[H_SENDER], got[H_KEY_ID], ts, issued, got[H_NONCE], got[H_IDEMPOTENCY],
                   got[H_SIGNATURE], public)


def _check_signature(p: _Parsed, body: bytes) -> tuple[bool, str]:
    digest = sm.sm3_hex(bytes(body))
    message = canonical(p.sender, p.key_id, p.timestamp, p.nonce, p.idempotency_key, digest)
    return sm.verify(p.public_hex, message, p.signature), digest


def _sealed(p: _Parsed, digest: str) -> Sealed:
    return Sealed(p.sender, p.key_id, p.timestamp, p.issued_at, p.nonce, p.idempotency_key, digest, p.signature)


def open_(headers: Any, body: bytes, keys: Mapping[str, Any], now: datetime | float | None,
          seen_nonce: Callable[[str], bool], window_s: float = WINDOW_S) -> Sealed | Rejection:
    """Check an envelope. keys: sender -> key id -> public hex (or key id -> public hex, which
    trusts any sender name the key holder signs); seen_nonce(nonce) -> True when the nonce was
    used before. It is called once, after the signature is good; for replay protection it must
    also remember the nonce for window_s (atomically: check-and-record), or the caller records
    Sealed.nonce itself."""
    p = _precheck(headers, keys, now, window_s)
    if isinstance(p, Rejection):
        return p
    good, digest = _check_signature(p, body)
    if not good:
        return reject("bad_signature")
    if seen_nonce(p.nonce):
        return reject("replayed", f"{H_NONCE}: {p.nonce}")
    return _sealed(p, digest)


async def open_async(headers: Any, body: bytes, keys: Mapping[str, Any], now: datetime | float | None,
                     seen_nonce: Callable[[str], bool | Awaitable[bool]],
                     window_s: float = WINDOW_S) -> Sealed | Rejection:
    """`open_` for servers: SM3 and SM2 run in a worker thread (they are CPU work), and
    seen_nonce may be a coroutine function (a create-only write to a shared store)."""
    p = _precheck(headers, keys, now, window_s)
    if isinstance(p, Rejection):
        return p
    good, digest = await asyncio.to_thread(_check_signature, p, body)
    if not good:
        return reject("bad_signature")
    seen = seen_nonce(p.nonce)
    if inspect.isawaitable(seen):
        seen = await seen
    if seen:
        return reject("replayed", f"{H_NONCE}: {p.nonce}")
    return _sealed(p, digest)


def nonce_keep_until(now: datetime | float | None, window_s: float = WINDOW_S) -> datetime:
    """Until when a nonce accepted at `now` must be remembered: its timestamp is within ±window
    of now, so after now + 2 x window a request carrying it is stale anyway."""
    return _utc(now) + timedelta(seconds=2 * window_s)
