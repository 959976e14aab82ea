"""How a notice reaches one receiver: a pluggable adapter per endpoint (reporting.endpoints[].adapter).

The outbox (soc/reporting/outbox.py) hands an adapter the notice's exact bytes and the fixed
idempotency key; the adapter delivers them once and says what came back as an `Answer`:

- `delivered`: the receiver took it (its receipt: `receipt_id`, `notice_id`, `received_at`,
  `duplicate` — true when it already held this idempotency key, i.e. an earlier attempt's
  answer was lost on the way back);
- `rejected`: the receiver refused it for a reason a retry cannot fix (a 4xx with a `code`:
  bad_signature, unknown_sender, stale, replayed...): recorded, not retried, an alert raised;
- `retry`: nothing usable came back (a network error, a timeout, a 5xx, a 408/429, a 4xx
  without a code from something in between): sent again later, with backoff.

`HttpSm2Upstream` (adapter `http_sm2`) is the platform's own interface: POST of the notice JSON
over HTTPS (HTTP on loopback for tests) with the SM2/SM3 envelope of soc/reporting/envelope.py,
sealed afresh at each attempt (a new timestamp and nonce; the same idempotency key). A province
with an interface of its own gets an adapter of its own: a class with `async send(body, headers)
-> Answer`, registered in ADAPTERS under the name its endpoints give.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import httpx
import orjson

from soc.config import ConfigError, ReportingSettings, UpstreamEndpoint
from soc.reporting.envelope import H_IDEMPOTENCY, seal

Outcome = Literal["delivered", "rejected", "retry"]
IDEMPOTENCY_KEY = H_IDEMPOTENCY  # the header the outbox passes every adapter: fixed per notice
NOTICE_ID = "X-Notice-Id"
RECEIPT_FIELDS = ("receipt_id", "notice_id", "received_at", "duplicate")
MAX_MESSAGE = 500  # characters of a receiver's message or an error kept per attempt


@dataclass
class Answer:
    """What one attempt at one receiver came to."""

    outcome: Outcome
    status: int | None = None  # HTTP status, None when no answer came
    receipt: dict[str, Any] | None = None  # delivered: the receiver's receipt
    code: str | None = None  # rejected: the receiver's code
    message: str = ""  # the receiver's message, or the error
    url: str = ""  # where the answer came from (the last URL tried)
    tried: list[str] = field(default_factory=list)  # every URL tried, with what happened at each

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Upstream(Protocol):
    """A receiver of notices. `headers` carries at least IDEMPOTENCY_KEY and NOTICE_ID."""

    name: str

    async def send(self, notice_bytes: bytes, headers: dict[str, str]) -> Answer: ...


def _short(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + "…"


def classify(status: int, content: bytes, notice_id: str, url: str) -> Answer:
    """An HTTP answer as an Answer (shared by adapters that speak the platform's JSON)."""
    try:
        data = orjson.loads(content) if content else None
    except orjson.JSONDecodeError:
        data = None
    if 200 <= status < 300:
        if isinstance(data, dict) and all(k in data for k in RECEIPT_FIELDS) and data.get("receipt_id"):
            if str(data.get("notice_id")) != notice_id:
                # A receipt for another notice: a confused receiver or something in between.
                return Answer("retry", status, message=_short(f"receipt names notice {data.get('notice_id')!r}"),
                              url=url)
            receipt = {k: data[k] for k in RECEIPT_FIELDS}
            receipt["duplicate"] = bool(receipt["duplicate"])
            return Answer("delivered", status, receipt=receipt, message="duplicate" if receipt["duplicate"] else "",
                          url=url)
        return Answer("retry", status, message=_short(f"no receipt in the answer: {content[:200]!r}"), url=url)
    code = data.get("code") if isinstance(data, dict) else None
    message = str(data.get("message", "")) if isinstance(data, dict) else content[:200].decode(errors="replace")
    if 400 <= status < 500 and status not in (408, 425, 429) and isinstance(code, str) and code:
        return Answer("rejected", status, code=code, message=_short(message), url=url)
    return Answer("retry", status, code=code if isinstance(code, str) else None,
                  message=_short(message or f"HTTP {status}"), url=url)


class HttpSm2Upstream:
    """POST the notice, SM2-signed in the envelope, to the endpoint's URLs in order.

    A network error, a timeout or a retryable answer at one URL moves on to the next (a standby
    of the same receiver); the first delivered or rejected answer ends the attempt."""

    def __init__(self, endpoint: UpstreamEndpoint, reporting: ReportingSettings,
                 keys: tuple[str, str] | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.name = endpoint.name
        self.endpoint = endpoint
        self.sender = reporting.sender_id
        self.key_id = reporting.key_id
        self.keys = keys if keys is not None else load_keys(reporting)
        self.clock = clock
        self.transport = transport

    def _client(self) -> httpx.AsyncClient:
        verify: Any = str(self.endpoint.ca_certs) if self.endpoint.ca_certs else True
        return httpx.AsyncClient(timeout=self.endpoint.timeout_s, verify=verify, transport=self.transport,
                                 follow_redirects=False, trust_env=False)

    async def send(self, notice_bytes: bytes, headers: dict[str, str]) -> Answer:
        private_hex, public_hex = self.keys
        notice_id = headers.get(NOTICE_ID, "")
        tried: list[str] = []
        last = Answer("retry", message="no URL configured")
        async with self._client() as client:
            for url in self.endpoint.urls:
                sealed = seal(notice_bytes, self.sender, self.key_id, headers[IDEMPOTENCY_KEY], private_hex,
                              public_hex, self.clock())
                out = {"Content-Type": "application/json; charset=utf-8", **headers, **sealed}
                started = time.monotonic()
                try:
                    # The whole exchange within timeout_s (httpx's own applies per phase), so an
                    # attempt always ends well within the outbox's claim (reporting.claim_s).
                    r = await asyncio.wait_for(client.post(url, content=notice_bytes, headers=out),
                                               self.endpoint.timeout_s)
                except (httpx.HTTPError, TimeoutError) as exc:
                    name = "Timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
                    last = Answer("retry", None, message=_short(f"{name}: {exc}"), url=url)
                else:
                    last = classify(r.status_code, r.content, notice_id, url)
                tried.append(f"{url} → {last.outcome} {last.status or '-'} {last.code or ''} "
                             f"{time.monotonic() - started:.2f}s".rstrip())
                if last.outcome != "retry":
                    break
        last.tried = tried
        return last


def load_keys(reporting: ReportingSettings) -> tuple[str, str]:
    """(private hex, public hex) from reporting.private_key_file / public_key_file."""
    from soc.reporting import sm

    if reporting.private_key_file is None:
        raise ConfigError("reporting.private_key_file is not set: notices are sent signed (soc province keygen)")
    try:
        private_hex = sm.load_private(reporting.private_key_file)
        public_hex = (sm.load_public(reporting.public_key_file) if reporting.public_key_file is not None
                      else sm.public_from_private(private_hex))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"reporting key files: {exc}") from None
    if sm.public_from_private(private_hex) != sm.normalize_public(public_hex):
        raise ConfigError("reporting.public_key_file is not the public key of reporting.private_key_file")
    return private_hex, public_hex


AdapterFactory = Callable[[UpstreamEndpoint, ReportingSettings], Upstream]
ADAPTERS: dict[str, AdapterFactory] = {"http_sm2": HttpSm2Upstream}


def build_upstreams(reporting: ReportingSettings) -> dict[str, Upstream]:
    """endpoint name -> its adapter; ConfigError naming a bad one."""
    out: dict[str, Upstream] = {}
    for ep in reporting.endpoints:
        if ep.name in out:
            raise ConfigError(f"reporting.endpoints: the name {ep.name!r} is used twice")
        factory = ADAPTERS.get(ep.adapter)
        if factory is None:
            raise ConfigError(f"reporting.endpoints.{ep.name}.adapter: unknown adapter {ep.adapter!r} "
                              f"(known: {', '.join(sorted(ADAPTERS))})")
        out[ep.name] = factory(ep, reporting)
    return out
