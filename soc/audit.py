"""The platform's own audit trail: append-only, hash-chained, verifiable (MLPS 2.0 8.1.4.3).

Every sign-in (success and failure) and every mutating call is one record in `<prefix>-audit`:
sequence number, time, actor, action, target, outcome, source address, tenant, details, and
`hash` = SHA-256 of the previous record's hash and this record's canonical JSON. Records are
created once (`op_type: create`, their sequence number as id) and never updated, so two writers
that race for the same number cannot both win: the loser reads the winner's record and chains
after it. A head document (`<prefix>-audit-head`) remembers the last number and hash.

`verify` (and `soc audit verify`) walks the chain from 1: a record removed (a gap, or a head
ahead of the last record), altered (its hash no longer recomputes) or re-ordered (a previous
hash that does not match) is reported with its number. Deleting the last records *and*
rewriting the head is caught only by comparing with an exported head (`soc audit verify` prints it).
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson
from elasticsearch import ApiError, AsyncElasticsearch, ConflictError, NotFoundError

from soc.model import Doc, now_iso

GENESIS = "0" * 64
HEAD_ID = "head"


def _canonical(record: dict[str, Any]) -> bytes:
    return orjson.dumps({k: v for k, v in record.items() if k != "hash"}, option=orjson.OPT_SORT_KEYS)


def chain_hash(prev_hash: str, record: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + _canonical(record)).hexdigest()


@dataclass
class Verification:
    records: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


async def _settled(call: Any, *args: Any, **kwargs: Any) -> Any:
    """A call, retried while Elasticsearch says the shard is not available yet (503 right after
    an index is created, which cluster health may already call yellow)."""
    for attempt in range(20):
        try:
            return await call(*args, **kwargs)
        except ApiError as exc:
            if exc.meta.status != 503 or attempt == 19:
                raise
            await asyncio.sleep(0.25)
    raise AssertionError("unreachable")


class AuditTrail:
    def __init__(self, es: AsyncElasticsearch, prefix: str) -> None:
        self.es = es
        self.index = f"{prefix}-audit"
        self.head_index = f"{prefix}-audit-head"
        self._ready = False

    async def _ensure(self) -> None:
        """Both indices exist and their shards are started (a fresh index answers 503 at first)."""
        if self._ready:
            return
        for name in (self.index, self.head_index):
            await self.es.options(ignore_status=400).indices.create(index=name, wait_for_active_shards="1")
            for _ in range(120):  # another process may have created it a moment ago
                health = await self.es.options(ignore_status=(404, 408)).cluster.health(
                    index=name, wait_for_status="yellow", timeout="1s")
                if health.meta.status == 200 and health.get("status") in ("yellow", "green"):
                    break
                await asyncio.sleep(0.5)
        self._ready = True

    async def _head(self) -> tuple[int, str]:
        try:
            head = await _settled(self.es.get, index=self.head_index, id=HEAD_ID)
        except NotFoundError:
            return 0, GENESIS
        return int(head["_source"]["seq"]), str(head["_source"]["hash"])

    async def append(self, actor: str, action: str, outcome: str, target: str = "", source_ip: str | None = None,
                     tenant: str | None = None, details: Doc | None = None) -> Doc:
        """Add one record at the end of the chain; the record as stored."""
        await self._ensure()
        seq, prev = await self._head()
        while True:
            record: dict[str, Any] = {
                "seq": seq + 1, "@timestamp": now_iso(), "actor": actor, "action": action, "outcome": outcome,
                "target": target, "source_ip": source_ip, "tenant": tenant, "details": details or {},
                "prev_hash": prev,
            }
            record["hash"] = chain_hash(prev, record)
            try:
                await _settled(self.es.create, index=self.index, id=str(seq + 1), document=record)
                break
            except ConflictError:
                # Another writer took this number: chain after its record (a realtime GET).
                taken = (await _settled(self.es.get, index=self.index, id=str(seq + 1)))["_source"]
                seq, prev = int(taken["seq"]), str(taken["hash"])
        await self._advance(record["seq"], record["hash"])
        return record

    async def _advance(self, seq: int, digest: str) -> None:
        """Move the head forward (never back); a concurrent writer's newer head wins."""
        for _ in range(10):
            try:
                head = await _settled(self.es.get, index=self.head_index, id=HEAD_ID)
                if int(head["_source"]["seq"]) >= seq:
                    return
                await _settled(self.es.index, index=self.head_index, id=HEAD_ID, document={"seq": seq, "hash": digest},
                               if_seq_no=head["_seq_no"], if_primary_term=head["_primary_term"])
                return
            except NotFoundError:
                try:
                    await _settled(self.es.create, index=self.head_index, id=HEAD_ID,
                                   document={"seq": seq, "hash": digest})
                    return
                except ConflictError:
                    continue
            except ConflictError:
                continue

    async def verify(self, page: int = 1000) -> Verification:
        """Walk the chain from its first record; every gap, alteration or re-ordering named."""
        out = Verification()
        await self._ensure()
        head_seq, head_hash = await self._head()
        out.head_seq, out.head_hash = head_seq, head_hash
        await self.es.indices.refresh(index=self.index, ignore_unavailable=True)
        expected_seq, prev = 1, GENESIS
        after: list[Any] | None = None
        while True:
            try:
                res = await self.es.search(index=self.index, size=page, sort=[{"seq": "asc"}], search_after=after,
                                           query={"match_all": {}})
            except NotFoundError:
                break
            hits = res["hits"]["hits"]
            if not hits:
                break
            for hit in hits:
                rec = hit["_source"]
                seq = int(rec.get("seq", -1))
                out.records += 1
                if seq != expected_seq:
                    out.problems.append(f"records {expected_seq}–{seq - 1} are missing (removed)" if seq > expected_seq
                                        else f"record {seq} is out of order or duplicated")
                if rec.get("prev_hash") != prev and seq == expected_seq:
                    out.problems.append(f"record {seq} does not follow record {seq - 1} (its previous hash differs)")
                if chain_hash(str(rec.get("prev_hash", "")), rec) != rec.get("hash"):
                    out.problems.append(f"record {seq} was altered (its hash does not match its content)")
                expected_seq, prev = seq + 1, str(rec.get("hash", ""))
            after = hits[-1]["sort"]
        if head_seq > expected_seq - 1:
            out.problems.append(f"records {expected_seq}–{head_seq} are missing: the head says {head_seq} were written")
        elif head_seq and head_seq == expected_seq - 1 and head_hash != prev:
            out.problems.append(f"the last record ({head_seq}) differs from the one the head remembers")
        return out
