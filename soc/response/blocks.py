"""The block store: what is blocked, for whom, until when, and why — in Elasticsearch.

One document per (scope, target) in `<prefix>-blocks`, so the same attacker twice is one block
whose expiry moves (idempotent), and a repeat offender's history (`offenses`) is there for
escalation. Every worker, the blocklist feed, the CLI and the API read the same documents;
a change is written with optimistic concurrency (seq_no / primary_term), so of two workers
deciding about the same block at once, exactly one transition wins and is applied.

States: `pending` (waiting for an analyst's approval), `approved` (to be applied), `active`
(applied until `expires_at`), `expired` (TTL reached and lifted), `removing` then `removed`
(lifted by an operator, a playbook or the allowlist), `rejected` (approval refused or timed out). The store is the record; the devices follow it
(soc/response/enforce.py), and a restart resumes from it: nothing stays blocked past its TTL.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from elasticsearch import AsyncElasticsearch, ConflictError, NotFoundError

from soc.model import iso, now_iso, parse_iso, stable_id

ACTIVE, PENDING, APPROVED, EXPIRED = "active", "pending", "approved", "expired"
REMOVING, REMOVED, REJECTED = "removing", "removed", "rejected"


def normalize_target(target: str) -> str:
    """An address or a CIDR block in canonical form (`10.1.2.0/24`, `2001:db8::1`); ValueError else."""
    t = target.strip()
    if "/" in t:
        net = ipaddress.ip_network(t, strict=False)
        return str(net.network_address) if net.num_addresses == 1 else str(net)
    return str(ipaddress.ip_address(t))


def block_id(scope: str, target: str) -> str:
    return stable_id("block", scope, target)


@dataclass(slots=True)
class Block:
    target: str
    scope: str  # a tenant, or "all"
    state: str
    ttl_seconds: int
    expires_at: str  # ISO time; for `pending`, the approval deadline
    playbook: str
    reason: str
    decided_by: str
    devices: list[str] = field(default_factory=list)
    rule_id: str = ""
    rule_name: str = ""
    alert_ids: list[str] = field(default_factory=list)
    offenses: int = 1  # how many times this target has been blocked (escalation)
    approval_reason: str = ""  # why an analyst must approve (pending)
    on_timeout: str = "reject"  # pending: what happens at the deadline
    approved_by: str = ""
    created: str = field(default_factory=now_iso)
    updated: str = field(default_factory=now_iso)
    simulated: bool = False
    failed_devices: list[str] = field(default_factory=list)  # to retry (the enforcer)
    attempts: int = 0
    # Optimistic concurrency of the stored document (not stored).
    seq: tuple[int, int] | None = None

    @property
    def id(self) -> str:
        return block_id(self.scope, self.target)

    def expires(self) -> datetime:
        return parse_iso(self.expires_at)

    def remaining_s(self, now: datetime) -> int:
        """Seconds left, rounded up: a device's own timeout never ends before the store's expiry
        (the feed, which reads the store, drops a block first; the enforcer then lifts it)."""
        return max(0, math.ceil((self.expires() - now).total_seconds()))

    def to_doc(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if k != "seq"}
        return {"@timestamp": self.updated, "soc": {"block": {"id": self.id, **data}}}

    @classmethod
    def from_hit(cls, hit: dict[str, Any]) -> Block:
        data = dict(hit["_source"]["soc"]["block"])
        data.pop("id", None)
        known = set(cls.__dataclass_fields__) - {"seq"}
        block = cls(**{k: v for k, v in data.items() if k in known})
        if "_seq_no" in hit:
            block.seq = (hit["_seq_no"], hit["_primary_term"])
        return block


class BlockStore:
    def __init__(self, es: AsyncElasticsearch, prefix: str) -> None:
        self.es = es
        self.index = f"{prefix}-blocks"

    async def get(self, scope: str, target: str) -> Block | None:
        try:
            hit = await self.es.get(index=self.index, id=block_id(scope, target))
        except NotFoundError:
            return None
        return Block.from_hit(dict(hit))

    async def put(self, block: Block) -> bool:
        """Write the block; False when someone else changed it since it was read (then re-read)."""
        block.updated = now_iso()
        kwargs: dict[str, Any] = {}
        if block.seq is not None:
            kwargs = {"if_seq_no": block.seq[0], "if_primary_term": block.seq[1]}
        else:
            kwargs = {"op_type": "create"}
        try:
            res = await self.es.index(index=self.index, id=block.id, document=block.to_doc(), refresh=True,
                                      **kwargs)
        except ConflictError:
            return False
        block.seq = (res["_seq_no"], res["_primary_term"])
        return True

    async def search(self, query: dict[str, Any], size: int = 10_000) -> list[Block]:
        try:
            res = await self.es.search(index=self.index, query=query, size=size, seq_no_primary_term=True,
                                       sort=[{"soc.block.expires_at": "asc"}])
        except NotFoundError:
            return []
        return [Block.from_hit(h) for h in res["hits"]["hits"]]

    async def active(self, now: datetime, scope: str | None = None) -> list[Block]:
        """Blocks in force now (the feed's content)."""
        must: list[dict[str, Any]] = [{"term": {"soc.block.state": ACTIVE}},
                                      {"range": {"soc.block.expires_at": {"gt": iso(now)}}}]
        if scope is not None:
            must.append({"terms": {"soc.block.scope": [scope, "all"]}})
        return await self.search({"bool": {"filter": must}})

    async def due(self, now: datetime) -> list[Block]:
        """Active blocks whose TTL has passed, and pending ones past their approval deadline."""
        return await self.search({"bool": {
            "filter": [{"terms": {"soc.block.state": [ACTIVE, PENDING]}},
                       {"range": {"soc.block.expires_at": {"lte": iso(now)}}}]}})

    async def by_state(self, *states: str) -> list[Block]:
        return await self.search({"terms": {"soc.block.state": list(states)}})

    async def recent_count(self, playbook: str, since: datetime) -> int:
        """Blocks a playbook applied since then (its rate limit)."""
        try:
            res = await self.es.count(index=self.index, query={"bool": {"filter": [
                {"term": {"soc.block.playbook": playbook}}, {"term": {"soc.block.state": ACTIVE}},
                {"range": {"soc.block.updated": {"gte": iso(since)}}}]}})
        except NotFoundError:
            return 0
        return int(res["count"])


def expiry(now: datetime, ttl_s: int) -> str:
    return iso(now + timedelta(seconds=ttl_s))


def utcnow() -> datetime:
    return datetime.now(UTC)
