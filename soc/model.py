"""The contracts between stages: RawRecord, the ECS event helpers, Alert and Action.

Every stage reads and writes one of these and nothing else (docs/architecture.md).
Events, alerts and actions travel as ECS documents (plain dicts, serialized with orjson);
RawBatch travels as a small JSON header plus the messages' bytes exactly as received.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson

from detectors.correlation import kept_ids

ECS_VERSION = "8.17.0"

Doc = dict[str, Any]


class ContractError(ValueError):
    """A message on a topic does not follow its contract."""


# --------------------------------------------------------------------------- RawRecord


@dataclass(slots=True)
class RawRecord:
    """One log message as a collector received it; `seq` is its place in its RawBatch."""

    message: bytes
    received_at_ns: int
    collector: str
    peer: str
    source_id: str
    format_hint: str = ""
    charset: str = "utf-8"
    timezone: str = "Asia/Shanghai"
    tenant: str = ""
    device: dict[str, str] = field(default_factory=dict)
    seq: int = 0

    def encode(self) -> bytes:
        """This record alone as a soc.raw value (a batch of one)."""
        return RawBatch.of(self, [self.message]).encode()

    @classmethod
    def decode(cls, data: bytes) -> RawRecord:
        """The one record of a soc.raw value; ContractError if it holds any other number."""
        batch = RawBatch.decode(data)
        if len(batch.messages) != 1:
            raise ContractError(f"raw batch holds {len(batch.messages)} records, not one")
        return next(batch.records())

    @property
    def received_at(self) -> datetime:
        return datetime.fromtimestamp(self.received_at_ns / 1e9, UTC)


@dataclass(slots=True)
class RawBatch:
    """Messages one collector received together from one source: one soc.raw value, keyed by
    source_id. A JSON header line, then the messages' bytes, untouched, back to back.

    The header's `sizes` lists each message's length in bytes (a header without `sizes` is
    followed by exactly one message: the rest of the value). One Kafka record per batch keeps
    the per-record cost of Kafka off the per-line path (docs/architecture.md, "Batches").
    """

    messages: list[bytes]
    received_at_ns: int
    collector: str
    peer: str
    source_id: str
    format_hint: str = ""
    charset: str = "utf-8"
    timezone: str = "Asia/Shanghai"
    tenant: str = ""
    device: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, like: RawRecord, messages: list[bytes]) -> RawBatch:
        """A batch of these messages with the header of `like`."""
        return cls(messages, like.received_at_ns, like.collector, like.peer, like.source_id, like.format_hint,
                   like.charset, like.timezone, like.tenant, like.device)

    @property
    def nbytes(self) -> int:
        return sum(map(len, self.messages))

    def encode(self) -> bytes:
        head: dict[str, Any] = {
            "received_at_ns": self.received_at_ns,
            "collector": self.collector,
            "peer": self.peer,
            "source_id": self.source_id,
            "format_hint": self.format_hint,
            "charset": self.charset,
            "timezone": self.timezone,
            "tenant": self.tenant,
        }
        if self.device:
            head["device"] = self.device
        if len(self.messages) == 1:
            return orjson.dumps(head) + b"\n" + self.messages[0]
        head["sizes"] = list(map(len, self.messages))
        return orjson.dumps(head) + b"\n" + b"".join(self.messages)

    @classmethod
    def decode(cls, data: bytes) -> RawBatch:
        """Inverse of encode; raises ContractError on anything else."""
        head, sep, body = data.partition(b"\n")
        if not sep:
            raise ContractError("raw record has no header line")
        try:
            meta = orjson.loads(head)
            sizes = meta.get("sizes")
            if sizes is None:
                messages = [body]
            else:
                if not isinstance(sizes, list) or not all(isinstance(n, int) and n >= 0 for n in sizes):
                    raise ValueError("sizes must be a list of byte counts")
                if sum(sizes) != len(body):
                    raise ValueError(f"sizes add up to {sum(sizes)} bytes, the body holds {len(body)}")
                messages, at = [], 0
                for n in sizes:
                    messages.append(body[at : at + n])
                    at += n
            device = meta.get("device") or {}
            if not isinstance(device, dict):
                raise ValueError("device must be an object")
            return cls(
                messages=messages,
                received_at_ns=int(meta["received_at_ns"]),
                collector=str(meta["collector"]),
                peer=str(meta["peer"]),
                source_id=str(meta["source_id"]),
                format_hint=str(meta.get("format_hint", "")),
                charset=str(meta.get("charset", "utf-8")),
                timezone=str(meta.get("timezone", "Asia/Shanghai")),
                tenant=str(meta.get("tenant", "")),
                device={str(k): str(v) for k, v in device.items()},
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ContractError(f"raw record header is invalid: {exc}") from exc

    @staticmethod
    def peek(data: bytes) -> tuple[str, int]:
        """(source_id, number of messages) from the header alone (the disk spool's drain)."""
        try:
            meta = orjson.loads(data.partition(b"\n")[0])
            sizes = meta.get("sizes")
            return str(meta["source_id"]), 1 if sizes is None else len(sizes)
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise ContractError(f"raw record header is invalid: {exc}") from exc

    def records(self) -> Iterator[RawRecord]:
        for seq, message in enumerate(self.messages):
            yield RawRecord(message, self.received_at_ns, self.collector, self.peer, self.source_id,
                            self.format_hint, self.charset, self.timezone, self.tenant, self.device, seq)

    def split(self, max_messages: int, max_bytes: int) -> Iterator[RawBatch]:
        """This batch in parts of at most max_messages and (but for a single larger message)
        max_bytes; the order of the messages is kept."""
        if len(self.messages) <= max_messages and self.nbytes <= max_bytes:
            yield self  # the usual case: one pass in C, no copy
            return
        part: list[bytes] = []
        size = 0
        for message in self.messages:
            if part and (len(part) >= max_messages or size + len(message) > max_bytes):
                yield replace(self, messages=part)
                part, size = [], 0
            part.append(message)
            size += len(message)
        if part:
            yield replace(self, messages=part)


# --------------------------------------------------------------------------- ECS helpers


def stable_id(*parts: str | bytes) -> str:
    """A deterministic 32-hex-digit id of the given parts (BLAKE2b-128)."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


def event_id(record: RawRecord, device_timestamped: bool) -> str:
    """Deterministic event.id: the same bytes from the same source are the same event.

    When the message carries its own timestamp, a re-send of the same line (a forwarder's
    retry, a replay) is the same event. When it carries none, the receive time is part of the
    identity, so two identical untimed lines stay two events while a Kafka re-delivery of one
    record still collapses.
    """
    if device_timestamped:
        return stable_id(record.source_id, record.message)
    return stable_id(record.source_id, record.message, str(record.received_at_ns), str(record.seq))


def iso(ts: datetime) -> str:
    """ISO-8601 in UTC with milliseconds and a Z, as Elasticsearch's date type expects."""
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso() -> str:
    return iso(datetime.now(UTC))


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# A dotted name split once: (the parents, the last part). Parsers write ~30 fields per event, so
# splitting each time was a tenth of normalize's time. Bounded: device keys can be any text.
_PATHS: dict[str, tuple[tuple[str, ...], str]] = {}
_PATHS_MAX = 8192


def _split(dotted: str) -> tuple[tuple[str, ...], str]:
    split = _PATHS.get(dotted)
    if split is None:
        *parents, last = dotted.split(".")
        split = (tuple(parents), last)
        if len(_PATHS) < _PATHS_MAX:
            _PATHS[dotted] = split
    return split


def get_path(doc: Doc, dotted: str, default: Any = None) -> Any:
    """Read a dotted ECS field from a nested document (also accepts flat dotted keys)."""
    if dotted in doc:
        return doc[dotted]
    parents, last = _split(dotted)
    cur: Any = doc
    for part in parents:
        if not isinstance(cur, dict):
            return default
        cur = cur.get(part)
    return cur.get(last, default) if isinstance(cur, dict) else default


def set_path(doc: Doc, dotted: str, value: Any) -> None:
    """Write a dotted ECS field into a nested document, creating objects on the way."""
    parents, last = _split(dotted)
    cur = doc
    for part in parents:
        nxt = cur.get(part)
        if not isinstance(nxt, dict):
            nxt = cur[part] = {}
        cur = nxt
    cur[last] = value


def dumps(doc: Doc) -> bytes:
    return orjson.dumps(doc)


def loads(data: bytes) -> Doc:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ContractError(f"not a JSON document: {exc}") from exc
    if not isinstance(value, dict):
        raise ContractError("not a JSON object")
    return value


# --------------------------------------------------------------------------- Alert


class AlertStatus(StrEnum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    FALSE_POSITIVE = "false_positive"


@dataclass(slots=True)
class Alert:
    """A detection: one Sigma rule matched one event, or a correlation crossed its threshold."""

    rule_id: str
    rule_name: str
    level: str
    group_key: str
    first_seen: datetime
    last_seen: datetime
    event_ids: list[str]
    count: int
    tags: list[str] = field(default_factory=list)
    description: str = ""
    correlation_type: str = ""
    # ECS fields copied from the (last) event behind the alert: source, destination, host...
    context: Doc = field(default_factory=dict)
    window_start_id: str = ""

    @property
    def alert_id(self) -> str:
        """Stable across updates of the same window, so the index keeps one document."""
        return stable_id("alert", self.rule_id, self.group_key, self.window_start_id or self.event_ids[0])

    def to_doc(self) -> Doc:
        severity = LEVEL_SEVERITY.get(self.level, 21)
        doc: Doc = {k: v for k, v in self.context.items()}
        context_soc = doc.pop("soc", {})  # e.g. soc.asset of the events: kept beside soc.alert
        doc.update(
            {
                "@timestamp": iso(self.last_seen),
                "ecs": {"version": ECS_VERSION},
                "event": {
                    "kind": "alert",
                    "id": self.alert_id,
                    "created": now_iso(),
                    "severity": severity,
                    "risk_score": float(severity),
                    "dataset": "soc.alerts",
                    "module": "soc",
                },
                "rule": {
                    "id": self.rule_id,
                    "name": self.rule_name,
                    "description": self.description,
                    "ruleset": "sigma",
                    "category": self.correlation_type or "single",
                },
                "tags": list(self.tags),
                "threat": attack_from_tags(self.tags),
                "soc": {
                    **context_soc,
                    "alert": {
                        "id": self.alert_id,
                        "status": AlertStatus.NEW.value,
                        "severity": self.level,
                        "assignee": None,
                        "group_key": self.group_key,
                        "count": self.count,
                        "first_seen": iso(self.first_seen),
                        "last_seen": iso(self.last_seen),
                        "event_ids": kept_ids(self.event_ids),
                    }
                },
            }
        )
        return doc


# Sigma levels to ECS event.severity / risk score (0-100).
LEVEL_SEVERITY = {"informational": 21, "low": 21, "medium": 47, "high": 73, "critical": 99}


def attack_from_tags(tags: list[str]) -> Doc:
    """ECS threat.* from Sigma's attack.* tags: tactics, techniques and sub-techniques.

    ECS keeps `T1110` in threat.technique.id and `T1110.001` in
    threat.technique.subtechnique.id, so a filter on the technique finds every sub-technique.
    """
    ids = {t.split(".", 1)[1].upper() for t in tags if t.lower().startswith("attack.t")}
    techniques = sorted({i.split(".")[0] for i in ids})
    subtechniques = sorted(i for i in ids if "." in i)
    tactics = sorted(
        {
            t.split(".", 1)[1].replace("_", " ").replace("-", " ").title()
            for t in tags
            if t.lower().startswith("attack.") and not t.lower().startswith(("attack.t", "attack.g", "attack.s"))
        }
    )
    if not techniques and not tactics:
        return {}
    technique: Doc = {"id": techniques}
    if subtechniques:
        technique["subtechnique"] = {"id": subtechniques}
    return {"framework": "MITRE ATT&CK", "technique": technique, "tactic": {"name": tactics}}


# --------------------------------------------------------------------------- Action


class ActionKind(StrEnum):
    RECORD = "record"
    BLOCK_IP = "block_ip"
    UNBLOCK = "unblock"
    NOTIFY = "notify"
    OPEN_INCIDENT = "open_incident"
    REPORT = "report"


class ActionState(StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"
    APPLIED = "applied"
    FAILED = "failed"
    EXPIRED = "expired"
    REVERTED = "reverted"


@dataclass(slots=True)
class Action:
    """A decision taken about an alert: what, on what, for how long, by whom and why."""

    playbook: str
    alert_id: str
    kind: ActionKind
    target: str
    state: ActionState
    decided_by: str
    reason: str
    simulated: bool = False
    ttl_seconds: int | None = None
    step: int = 0
    created: str = field(default_factory=now_iso)

    @property
    def action_id(self) -> str:
        return stable_id("action", self.playbook, self.alert_id, str(self.step), self.kind.value)

    def to_doc(self) -> Doc:
        data = asdict(self)
        return {
            "@timestamp": self.created,
            "ecs": {"version": ECS_VERSION},
            "event": {"kind": "event", "id": self.action_id, "dataset": "soc.actions", "module": "soc",
                      "created": self.created},
            "soc": {
                "action": {
                    "id": self.action_id,
                    **{k: (v.value if isinstance(v, StrEnum) else v) for k, v in data.items() if k != "created"},
                }
            },
        }
