"""The notice outbox: durable, exactly-once delivery of incident notices upstream.

One document per notice to one receiver in `<prefix>-outbox` (`soc.notice.*`, `labels.tenant`),
written when the notice is queued (soc/reporting/notices.py) and carried through its states:

    queued ──▶ sending ──▶ delivered
                  │  ▲──▶ rejected          (a 4xx with a code: not retried, an alert raised)
                  ▼  │
               retrying                     (network error, timeout, 5xx: again after a backoff)

- The notice's bytes are written once, with the notice, and every attempt sends exactly them,
  sealed afresh (new timestamp and nonce) with the idempotency key fixed at queueing: a receiver
  that already holds the key answers `duplicate: true` and keeps one copy, so a notice whose
  first answer was lost on the way back is still held once upstream, and recorded delivered once.
- Claiming is a conditional write (if_seq_no / if_primary_term) of `sending` with a lease
  (`claimed_until`, reporting.claim_s): of two workers draining at once only one wins a notice,
  the other skips it. A worker that dies mid-send leaves a lease that runs out; the notice is
  then taken again (the lost attempt recorded as `unknown`) and the receiver's idempotency keeps
  the retry harmless.
- Retries back off exponentially, reporting.retry_base_s x 2^(n-1), capped at retry_max_s, with
  ±retry_jitter of it at random (then capped again), so a receiver coming back is not hit by
  every sender at once. There is no limit on attempts: a notice is owed; the deadline check
  raises the alarm when it is late.
- Every attempt is kept in the document (time, worker, outcome, HTTP status, the receiver's code
  and message, the URLs tried); the receipt on delivery; the rejection on refusal.
- A delivered notice marks its incident `reported: true` (what regulators see), re-tried at the
  next drain until it holds.
- `check_deadlines(now)`: a notice not delivered by its due time (soc/reporting/deadlines.py,
  kept as `due_at` when queued) raises ONE alert (`soc-notice-overdue`; the alert id is stable
  per notice and the document remembers it was raised, set by a conditional write, so a
  re-check or a second worker never raises it again).
"""

from __future__ import annotations

import logging
import os
import random
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from elasticsearch import AsyncElasticsearch, ConflictError, NotFoundError

from soc.config import ReportingSettings
from soc.model import Alert, Doc, get_path, iso, parse_iso, stable_id
from soc.reporting.upstream import IDEMPOTENCY_KEY, NOTICE_ID, Answer, Upstream

log = logging.getLogger(__name__)

QUEUED, SENDING, DELIVERED, REJECTED, RETRYING = "queued", "sending", "delivered", "rejected", "retrying"
STATES = (QUEUED, SENDING, DELIVERED, REJECTED, RETRYING)
UNDELIVERED = (QUEUED, SENDING, RETRYING, REJECTED)
DATASET = "soc.notice"
OWED_DATASET = "soc.notice.owed"  # markers of alerts raised for notices owed and never queued
OVERDUE_RULE = "soc-notice-overdue"
REJECTED_RULE = "soc-notice-rejected"
MAX_ATTEMPTS_KEPT = 100  # per notice: the first and the latest
BATCH = 100  # notices taken per drain
WRITES = 8  # conditional-write attempts when recording an outcome


def utcnow() -> datetime:
    return datetime.now(UTC)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def backoff_s(reporting: ReportingSettings, attempt: int, rng: random.Random | None = None) -> float:
    """Seconds before attempt+1: base x 2^(attempt-1), capped, ± jitter, capped again."""
    base = min(reporting.retry_max_s, reporting.retry_base_s * 2 ** max(0, attempt - 1))
    jitter = (rng or random).uniform(-reporting.retry_jitter, reporting.retry_jitter)  # noqa: S311 - not a secret
    return max(0.0, min(reporting.retry_max_s, base * (1 + jitter)))


def outbox_doc(notice: Doc, body: bytes, *, tenant: str | None, endpoint: str, recipient: str, adapter: str,
               idempotency_key: str, due_at: datetime | None, created_by: str, now: datetime) -> Doc:
    """The outbox document of a notice just built (state queued, due now)."""
    cls = notice.get("classification", {})
    n = {
        "id": notice["notice_id"], "incident_id": notice["incident_id"], "kind": notice["kind"],
        "sequence": notice["sequence"], "endpoint": endpoint, "recipient": recipient, "adapter": adapter,
        "grade": cls.get("grade"), "grade_code": cls.get("grade_code"), "category_code": cls.get("category_code"),
        "subcategory_code": cls.get("subcategory_code"),
        "operator_type": get_path(notice, "reporting_unit.operator_type"),
        "state": QUEUED, "created": iso(now), "updated": iso(now), "created_by": created_by,
        "idempotency_key": idempotency_key, "due_at": iso(due_at) if due_at else None,
        "next_attempt_at": iso(now), "attempt_count": 0, "attempts": [], "claimed_by": None, "claimed_until": None,
        "first_attempt_at": None, "delivered_at": None, "late": None, "receipt": None, "rejected_at": None,
        "rejection": None, "last_error": None, "incident_marked": False, "overdue_alert_id": None,
        "overdue_alerted_at": None, "body": body.decode("utf-8"),
    }
    return {"@timestamp": iso(now), "event": {"kind": "event", "dataset": DATASET, "id": n["id"]},
            "labels": {"tenant": tenant}, "soc": {"notice": n}}


@dataclass
class DrainResult:
    delivered: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    retrying: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # claimed by another worker first
    alerts: list[Doc] = field(default_factory=list)  # to send to the alerts topic


class Outbox:
    def __init__(self, es: AsyncElasticsearch, prefix: str, reporting: ReportingSettings,
                 upstreams: dict[str, Upstream] | None = None, worker: str | None = None,
                 rng: random.Random | None = None) -> None:
        self.es = es
        self.prefix = prefix
        self.index = f"{prefix}-outbox"
        self.reporting = reporting
        self.upstreams = upstreams or {}
        self.worker = worker or worker_name()
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not a secret

    # -- documents ---------------------------------------------------------------------------

    async def put(self, doc: Doc) -> bool:
        """Write a new notice; False if one with its id exists already."""
        try:
            await self.es.index(index=self.index, id=doc["soc"]["notice"]["id"], document=doc, op_type="create",
                                refresh=True)
        except ConflictError:
            return False
        return True

    async def get(self, notice_id: str) -> dict[str, Any] | None:
        """The raw hit (`_source`, `_seq_no`, `_primary_term`), or None."""
        try:
            return dict(await self.es.get(index=self.index, id=notice_id))
        except NotFoundError:
            return None

    async def search(self, filters: list[dict[str, Any]], size: int = 200,
                     sort: list[dict[str, Any]] | None = None, source_excludes: list[str] | None = None,
                     seq: bool = False) -> list[dict[str, Any]]:
        res = await self.es.options(ignore_status=404).search(
            index=self.index, size=size, seq_no_primary_term=seq, source_excludes=source_excludes or [],
            query={"bool": {"filter": [{"term": {"event.dataset": DATASET}}, *filters]}},
            sort=sort or [{"soc.notice.created": {"order": "desc", "unmapped_type": "date"}}])
        if res.meta.status == 404:
            return []
        return [dict(h) for h in res["hits"]["hits"]]

    async def of_incident(self, incident_id: str) -> list[Doc]:
        """The incident's notices (to every receiver), oldest sequence first, without bodies."""
        hits = await self.search([{"term": {"soc.notice.incident_id": incident_id}}], size=1000,
                                 sort=[{"soc.notice.sequence": {"order": "asc", "unmapped_type": "long"}}],
                                 source_excludes=["soc.notice.body", "soc.notice.attempts"])
        return [h["_source"] for h in hits]

    async def _write(self, notice_id: str, src: Doc, seq: int, term: int) -> bool:
        try:
            await self.es.index(index=self.index, id=notice_id, document=src, refresh=True,
                                if_seq_no=seq, if_primary_term=term)
        except ConflictError:
            return False
        return True

    async def _update(self, notice_id: str, change: Callable[[dict[str, Any]], bool]) -> Doc | None:
        """Read-modify-write until it lands; change(notice) returns False to leave it be."""
        for _ in range(WRITES):
            hit = await self.get(notice_id)
            if hit is None:
                return None
            src = hit["_source"]
            if not change(src["soc"]["notice"]):
                return None
            if await self._write(notice_id, src, hit["_seq_no"], hit["_primary_term"]):
                return src
        log.error("notice %s: gave up writing after %d conflicts", notice_id, WRITES)
        return None

    async def requeue(self, notice_id: str, actor: str, now: datetime | None = None) -> Doc | None:
        """A rejected notice queued again, unchanged (the same bytes and idempotency key), once
        what the receiver refused is fixed (a key, the sender id): the document, or None when it
        is not rejected."""
        now = now or utcnow()

        def again(n: dict[str, Any]) -> bool:
            if n["state"] != REJECTED:
                return False
            _attempt(n, {"n": n.get("attempt_count"), "started": None, "finished": iso(now), "worker": actor,
                         "outcome": "requeued", "message": f"重新排队 by {actor} after {n.get('last_error')}"})
            n.update({"state": QUEUED, "next_attempt_at": iso(now), "updated": iso(now), "rejected_at": None})
            return True

        return await self._update(notice_id, again)

    # -- sending ----------------------------------------------------------------------------

    async def drain(self, now: datetime | None = None) -> DrainResult:
        """Send every notice that is due (queued, or retrying whose next attempt has come, or
        sending whose claim ran out), one claim each; the outcome recorded on each."""
        now = now or utcnow()
        out = DrainResult()
        stamp = iso(now)
        hits = await self.search([{"bool": {"should": [
            {"bool": {"filter": [{"terms": {"soc.notice.state": [QUEUED, RETRYING]}},
                                 {"range": {"soc.notice.next_attempt_at": {"lte": stamp}}}]}},
            {"bool": {"filter": [{"term": {"soc.notice.state": SENDING}},
                                 {"range": {"soc.notice.claimed_until": {"lte": stamp}}}]}},
        ], "minimum_should_match": 1}}], size=BATCH, seq=True,
            sort=[{"soc.notice.next_attempt_at": {"order": "asc", "unmapped_type": "date"}}])
        for hit in hits:
            claimed = await self._claim(hit, now)
            if claimed is None:
                out.skipped.append(hit["_id"])
                continue
            src, seq, term = claimed
            n = src["soc"]["notice"]
            started = max(utcnow(), now)
            upstream = self.upstreams.get(n["endpoint"])
            if upstream is None:
                answer = Answer("retry", message=f"endpoint {n['endpoint']!r} is not configured here "
                                                 "(reporting.endpoints)")
            else:
                try:
                    answer = await upstream.send(n["body"].encode("utf-8"),
                                                 {IDEMPOTENCY_KEY: n["idempotency_key"], NOTICE_ID: n["id"]})
                except Exception as exc:  # noqa: BLE001 - an adapter's surprise is a failed attempt, retried
                    log.exception("notice %s: adapter %s failed", n["id"], n.get("adapter"))
                    answer = Answer("retry", message=f"{type(exc).__name__}: {exc}"[:500])
            finished = max(utcnow(), now)
            doc = await self._record(n["id"], src, seq, term, answer, started, finished)
            state = get_path(doc or {}, "soc.notice.state")
            if state == DELIVERED:
                out.delivered.append(n["id"])
            elif state == REJECTED:
                out.rejected.append(n["id"])
                if answer.outcome == "rejected":
                    out.alerts.append(rejected_alert(doc or src, now))
            else:
                out.retrying.append(n["id"])
        await self._mark_incidents()
        return out

    async def _claim(self, hit: dict[str, Any], now: datetime) -> tuple[Doc, int, int] | None:
        src = hit["_source"]
        n = src["soc"]["notice"]
        if n["state"] == SENDING:  # a claim that ran out: that attempt's outcome is unknown
            _attempt(n, {"n": n["attempt_count"], "started": None, "finished": iso(now), "worker": n.get("claimed_by"),
                         "outcome": "unknown",
                         "message": f"the attempt did not finish before its claim ran out ({n.get('claimed_until')})"})
        n["state"] = SENDING
        n["attempt_count"] = int(n.get("attempt_count") or 0) + 1
        n["claimed_by"] = self.worker
        n["claimed_until"] = iso(now + timedelta(seconds=self.reporting.claim_s))
        n["first_attempt_at"] = n.get("first_attempt_at") or iso(now)
        n["updated"] = iso(now)
        try:
            res = await self.es.index(index=self.index, id=hit["_id"], document=src, refresh=True,
                                      if_seq_no=hit["_seq_no"], if_primary_term=hit["_primary_term"])
        except ConflictError:
            return None  # another worker took it, or it changed: it is theirs, or the next drain's
        return src, int(res["_seq_no"]), int(res["_primary_term"])

    async def _record(self, notice_id: str, src: Doc, seq: int, term: int, answer: Answer, started: datetime,
                      finished: datetime) -> Doc | None:
        """Write the attempt's outcome onto the notice (on a conflict: on what it is now)."""
        entry = {"started": iso(started), "finished": iso(finished), "worker": self.worker,
                 "outcome": answer.outcome, "status": answer.status, "code": answer.code,
                 "message": answer.message, "url": answer.url, "tried": answer.tried,
                 "receipt_id": (answer.receipt or {}).get("receipt_id"),
                 "duplicate": (answer.receipt or {}).get("duplicate")}

        def apply(n: dict[str, Any]) -> bool:
            entry["n"] = n.get("attempt_count")
            _attempt(n, dict(entry))
            n["updated"] = iso(finished)
            if n["state"] == DELIVERED:  # delivered by another worker meanwhile: keep that
                return True
            if n["state"] == SENDING and n.get("claimed_by") not in (None, self.worker):
                return True  # taken over after our claim ran out: its owner records the state
            n["claimed_by"] = None
            n["claimed_until"] = None
            if answer.outcome == "delivered":
                n.update({"state": DELIVERED, "delivered_at": iso(finished), "receipt": answer.receipt,
                          "next_attempt_at": None, "last_error": None,
                          "late": bool(n.get("due_at")) and parse_iso(n["due_at"]) < finished})
            elif answer.outcome == "rejected":
                n.update({"state": REJECTED, "rejected_at": iso(finished), "next_attempt_at": None,
                          "rejection": {"status": answer.status, "code": answer.code, "message": answer.message},
                          "last_error": f"{answer.code}: {answer.message}"})
            else:
                wait = backoff_s(self.reporting, int(n.get("attempt_count") or 1), self.rng)
                n.update({"state": RETRYING, "next_attempt_at": iso(finished + timedelta(seconds=wait)),
                          "last_error": answer.message or (f"HTTP {answer.status}" if answer.status else "no answer")})
            return True

        apply(src["soc"]["notice"])
        if await self._write(notice_id, src, seq, term):
            return src
        return await self._update(notice_id, apply)

    async def _mark_incidents(self) -> None:
        """Delivered notices whose incident is not yet marked reported: mark it, then the notice."""
        from soc.reporting.incidents import IncidentError, IncidentStore, _append, entry

        hits = await self.search([{"term": {"soc.notice.state": DELIVERED}},
                                  {"term": {"soc.notice.incident_marked": False}}], size=BATCH,
                                 source_excludes=["soc.notice.body", "soc.notice.attempts"])
        store = IncidentStore(self.es, self.prefix)
        for hit in hits:
            n = hit["_source"]["soc"]["notice"]
            receipt = n.get("receipt") or {}

            def mark(inc: dict[str, Any], now: str, n: dict[str, Any] = n, receipt: dict[str, Any] = receipt) -> None:
                inc["reported"] = True
                _append(inc, entry(
                    "note", "reporting",
                    f"通报已送达 {n['endpoint']}（{n['kind']} 第 {n['sequence']} 号，回执 {receipt.get('receipt_id')}"
                    + ("，重复送达" if receipt.get("duplicate") else "") + f"） (notice {n['id']} delivered)", now))

            try:
                await store._change(n["incident_id"], ["*"], mark)
            except IncidentError as exc:
                log.warning("notice %s: incident %s not marked reported: %s", n["id"], n["incident_id"], exc)
                if exc.status != 404:
                    continue  # tried again at the next drain
            await self._update(n["id"], lambda m: m.update({"incident_marked": True}) is None)

    # -- deadlines ---------------------------------------------------------------------------

    async def check_deadlines(self, now: datetime | None = None) -> list[Doc]:
        """Alerts for notices past their due time and not delivered (one per notice, ever), and
        for notices owed and never queued (`owed`)."""
        now = now or utcnow()
        return await self._overdue(now) + await self.owed(now)

    async def _overdue(self, now: datetime) -> list[Doc]:
        hits = await self.search([{"terms": {"soc.notice.state": list(UNDELIVERED)}},
                                  {"range": {"soc.notice.due_at": {"lte": iso(now)}}}],
                                 size=BATCH, source_excludes=["soc.notice.body", "soc.notice.attempts"],
                                 sort=[{"soc.notice.due_at": {"order": "asc", "unmapped_type": "date"}}])
        alerts: list[Doc] = []
        for hit in hits:
            if hit["_source"]["soc"]["notice"].get("overdue_alerted_at"):
                continue
            won: list[bool] = []

            def flag(n: dict[str, Any]) -> bool:
                won.clear()
                if n.get("overdue_alerted_at") or n["state"] == DELIVERED:
                    return False
                n["overdue_alerted_at"] = iso(now)
                n["overdue_alert_id"] = overdue_alert(hit["_source"], now)["soc"]["alert"]["id"]
                won.append(True)
                return True

            doc = await self._update(hit["_id"], flag)
            if doc is not None and won:
                alerts.append(overdue_alert(doc, now))
        return alerts


    async def owed(self, now: datetime) -> list[Doc]:
        """Graded incidents whose next notice to a receiver is past due and was never queued: no
        initial (第四条), no follow-up within the period while open (local policy), no final
        summary within 30 days of closing (第八条). One alert per (incident, receiver, kind, due
        time), made once by a create-only marker document in this index."""
        from soc.reporting.notices import GRADES, due_at, receivers

        res = await self.es.options(ignore_status=404).search(
            index=f"{self.prefix}-incidents", size=1000, source_excludes=["soc.incident.timeline"],
            query={"bool": {"filter": [{"terms": {"soc.incident.grade": list(GRADES[1:])}}]}},
            sort=[{"soc.incident.updated": {"order": "desc", "unmapped_type": "date"}}])
        if res.meta.status == 404 or not res["hits"]["hits"]:
            return []
        incidents = [h["_source"] for h in res["hits"]["hits"]]
        notices: dict[str, list[dict[str, Any]]] = {}
        for hit in await self.search([{"terms": {"soc.notice.incident_id": [get_path(i, "soc.incident.id")
                                                                            for i in incidents]}}],
                                     size=10_000, source_excludes=["soc.notice.body", "soc.notice.attempts"]):
            n = hit["_source"]["soc"]["notice"]
            notices.setdefault(n["incident_id"], []).append(n)
        alerts: list[Doc] = []
        for incident in incidents:
            inc = incident["soc"]["incident"]
            operator = str(inc.get("operator_type") or self.reporting.operator_type)
            for ep in receivers(self.reporting, inc.get("grade")) or [None]:
                mine = [n for n in notices.get(inc["id"], []) if ep is None or n["endpoint"] == ep.name]
                kinds = {n["kind"] for n in mine}
                if "final" in kinds:
                    continue
                try:
                    if "initial" not in kinds:
                        kind, due = "initial", due_at("initial", incident, operator)
                    elif inc.get("status") == "closed":
                        kind, due = "final", due_at("final", incident, operator)
                    else:
                        last = max(parse_iso(str(n.get("delivered_at") or n["created"])) for n in mine
                                   if n["kind"] in ("initial", "follow_up"))
                        kind, due = "follow_up", due_at("follow_up", incident, operator, last)
                except ValueError as exc:  # an operator type or grade the deadline table does not know
                    log.error("incident %s: no deadline: %s", inc["id"], exc)
                    continue
                if due is None or due > now:
                    continue
                endpoint = ep.name if ep else "(none configured)"
                mid = "owed-" + stable_id("owed", inc["id"], endpoint, kind, iso(due))
                alert = owed_alert(incident, mid, endpoint, kind, due, now)
                marker = {"@timestamp": iso(now), "event": {"kind": "event", "dataset": OWED_DATASET, "id": mid},
                          "labels": {"tenant": get_path(incident, "labels.tenant")},
                          "soc": {"owed": {"incident_id": inc["id"], "endpoint": endpoint, "kind": kind,
                                           "due_at": iso(due), "alerted_at": iso(now),
                                           "alert_id": alert["soc"]["alert"]["id"]}}}
                try:
                    await self.es.index(index=self.index, id=mid, document=marker, op_type="create", refresh=True)
                except ConflictError:
                    continue  # raised before, here or by another worker
                alerts.append(alert)
        return alerts


def owed_alert(incident: Doc, mid: str, endpoint: str, kind: str, due: datetime, now: datetime) -> Doc:
    inc = incident["soc"]["incident"]
    alert = Alert(rule_id=OVERDUE_RULE, rule_name="网络安全事件报告逾期 (incident notice overdue)", level="high",
                  group_key=mid, first_seen=now, last_seen=now, event_ids=[inc["id"]], count=1,
                  tags=["soc.reporting"],
                  description=f"{inc.get('grade')}事件 {inc['id']}（{inc.get('title', '')}）的{_KIND.get(kind, kind)}"
                              f"应于 {iso(due)} 前报送 {endpoint}，尚未报送: POST /api/v1/incidents/{inc['id']}/notices",
                  context={"labels": {"tenant": get_path(incident, "labels.tenant")},
                           "soc": {"notice": {"incident_id": inc["id"], "kind": kind, "endpoint": endpoint,
                                              "grade": inc.get("grade"), "due_at": iso(due), "state": "missing"}}},
                  window_start_id=mid)
    return alert.to_doc()


def _attempt(n: dict[str, Any], entry: dict[str, Any]) -> None:
    attempts = list(n.get("attempts") or []) + [entry]
    if len(attempts) > MAX_ATTEMPTS_KEPT:
        attempts = attempts[:1] + attempts[-(MAX_ATTEMPTS_KEPT - 1):]
    n["attempts"] = attempts


def _alert_context(doc: Doc) -> Doc:
    n = doc["soc"]["notice"]
    return {"labels": {"tenant": get_path(doc, "labels.tenant")},
            "soc": {"notice": {k: n.get(k) for k in ("id", "incident_id", "kind", "sequence", "endpoint", "grade",
                                                     "due_at", "state")}}}


def overdue_alert(doc: Doc, now: datetime) -> Doc:
    """The one alert of an overdue notice: its id depends on the notice only."""
    n = doc["soc"]["notice"]
    alert = Alert(rule_id=OVERDUE_RULE, rule_name="网络安全事件报告逾期 (incident notice overdue)", level="high",
                  group_key=n["id"], first_seen=now, last_seen=now, event_ids=[n["id"]], count=1,
                  tags=["soc.reporting"],
                  description=f"事件 {n['incident_id']} 的{_KIND.get(n['kind'], n['kind'])}（第 {n['sequence']} 号，"
                              f"{n.get('grade') or '-'}）应于 {n.get('due_at')} 前报送 {n['endpoint']}，目前状态 "
                              f"{n['state']}（{n.get('last_error') or '未送达'}）；请人工处置: GET /api/v1/notices/{n['id']}",
                  context=_alert_context(doc), window_start_id=f"overdue|{n['id']}")
    return alert.to_doc()


def rejected_alert(doc: Doc, now: datetime) -> Doc:
    n = doc["soc"]["notice"]
    rej = n.get("rejection") or {}
    alert = Alert(rule_id=REJECTED_RULE, rule_name="网络安全事件报告被拒收 (incident notice rejected)", level="high",
                  group_key=n["id"], first_seen=now, last_seen=now, event_ids=[n["id"]], count=1,
                  tags=["soc.reporting"],
                  description=f"{n['endpoint']} 拒收事件 {n['incident_id']} 的{_KIND.get(n['kind'], n['kind'])}"
                              f"（第 {n['sequence']} 号）: HTTP {rej.get('status')} {rej.get('code')}: "
                              f"{rej.get('message')}；不会自动重试，请核对密钥与配置后重新报送",
                  context=_alert_context(doc), window_start_id=f"rejected|{n['id']}")
    return alert.to_doc()


_KIND = {"initial": "初报", "follow_up": "续报", "final": "总结报告"}
