"""Incidents: alerts grouped into one matter to handle, opened by playbooks or by an analyst.

One document per incident in `<prefix>-incidents` (`soc.incident.*`, `labels.tenant`), the
record the reporting issue builds on (GB/T 20986 grading, notices):

- A playbook opens one per (playbook, attacker, tenant) with `open_or_update` (the alert's
  `source.ip`; an alert without one: its own group): opening again for the same attacker adds the
  alert to it, whatever rule raised it (and reopens it if it was closed), instead of making a second.
- An analyst opens one by hand from alerts of a single tenant (`create`).
- Status: open → contained → closed (closing needs a reason); open → closed for a false alarm,
  contained → open when containment did not hold, closed → open to reopen.
- The timeline (created, alert added, note, status change: each with time, kind, actor, text) is
  kept in the incident document itself, bounded to MAX_TIMELINE entries (the first, `created`,
  always kept). One document means one sequence number: every change is a read-modify-write
  guarded by if_seq_no/if_primary_term and retried on a conflict, so a note and a status change
  made at the same moment both land, and a move made invalid by the other one answers 409 —
  nothing is ever silently overwritten. It also needs no second index (and template) and the
  detail view is one GET.
- `reported` is set by the reporting issue when a notice went upstream; regulators see only
  those (`reported_only`).
- Classification and grade (GB/T 20986-2023; soc/reporting/grading.py) are set with
  `set_grading`: category/subcategory with their codes, grade and grade code, the reasons
  (`grade_basis`, `classification_basis`), who graded and when, the operator type the deadlines
  follow; an analyst's override carries its reason (`grade_override_reason`) and is a timeline
  entry of its own kind.

Tenant scoping is done here too: every read takes the caller's tenants (`*` for all), and an
incident of another tenant is NotFound, as one that does not exist.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from elasticsearch import AsyncElasticsearch, ConflictError, NotFoundError

from soc.model import Doc, get_path, now_iso, stable_id

if TYPE_CHECKING:
    from soc.reporting.grading import Classification, Grading

STATUSES = ("open", "contained", "closed")
# Where an incident may go from where it is.
MOVES: dict[str, set[str]] = {
    "open": {"contained", "closed"},
    "contained": {"closed", "open"},
    "closed": {"open"},
}
KINDS = ("created", "alert_added", "note", "status_change", "grading", "grading_override", "owner")
MAX_TIMELINE = 500  # entries kept in the document: the first and the latest
MAX_LIST = 200  # ids, addresses, assets, rule names kept per incident
RETRIES = 12  # read-modify-write attempts before answering "try again" (409)
T = TypeVar("T")


class IncidentError(Exception):
    """A refusal, with the HTTP status the API answers it with."""

    status = 409


class NotFound(IncidentError):
    status = 404


class Refused(IncidentError):
    """Not a valid move now (or a write that kept losing to concurrent writers)."""

    status = 409


class Invalid(IncidentError):
    status = 422


async def _backoff(attempt: int) -> None:
    """Lost a race: wait a little, at random, so racing writers do not collide again in step."""
    await asyncio.sleep(random.uniform(0, min(0.5, 0.01 * 2 ** attempt)))  # noqa: S311 - not a secret


def sees(tenants: list[str], tenant: str | None) -> bool:
    return "*" in tenants or (tenant is not None and tenant in tenants)


def _scope(tenants: list[str]) -> list[dict[str, Any]]:
    return [] if "*" in tenants else [{"terms": {"labels.tenant": tenants}}]


def entry(kind: str, actor: str, text: str, time: str | None = None) -> dict[str, str]:
    return {"time": time or now_iso(), "kind": kind, "actor": actor, "text": text}


def _append(inc: dict[str, Any], *entries: dict[str, str]) -> None:
    tl = list(inc.get("timeline") or []) + list(entries)
    if len(tl) > MAX_TIMELINE:
        inc["timeline_dropped"] = int(inc.get("timeline_dropped") or 0) + len(tl) - MAX_TIMELINE
        tl = tl[:1] + tl[-(MAX_TIMELINE - 1):]
    inc["timeline"] = tl


def _absorb(inc: dict[str, Any], alert: Doc, actor: str, now: str, alert_id: str = "") -> bool:
    """Add the alert (its id, source, asset, rule) to the incident; True if it was new to it."""
    alert_id = alert_id or str(get_path(alert, "soc.alert.id", "") or "")
    added = bool(alert_id) and alert_id not in inc["alert_ids"]
    for key, value in (("alert_ids", alert_id), ("source_ips", get_path(alert, "source.ip")),
                       ("assets", get_path(alert, "soc.asset.name")), ("rule_names", get_path(alert, "rule.name"))):
        if value and value not in inc[key]:
            inc[key] = (inc[key] + [value])[-MAX_LIST:]
    if added:
        about = [str(v) for v in (get_path(alert, "rule.name") or get_path(alert, "rule.id"),
                                  get_path(alert, "source.ip")) if v]
        _append(inc, entry("alert_added", actor, f"告警 {alert_id}" + (f" ({', '.join(about)})" if about else ""), now))
    return added


def _new(iid: str, title: str, summary: str, opened_by: str, now: str) -> dict[str, Any]:
    return {"id": iid, "title": title, "summary": summary, "status": "open", "opened_by": opened_by,
            "created": now, "updated": now, "reopened": None, "closed": None, "status_reason": None,
            "reported": False, "alert_ids": [], "source_ips": [], "assets": [], "rule_names": [],
            "timeline": [entry("created", opened_by, title, now)]}


def _doc(inc: dict[str, Any], tenant: str | None) -> Doc:
    return {"@timestamp": inc["created"], "event": {"kind": "event", "dataset": "soc.incidents", "id": inc["id"]},
            "labels": {"tenant": tenant}, "soc": {"incident": inc}}


class IncidentStore:
    def __init__(self, es: AsyncElasticsearch, prefix: str) -> None:
        self.es = es
        self.index = f"{prefix}-incidents"
        self.alerts = f"{prefix}-alerts"

    # -- playbooks -------------------------------------------------------------------------------

    async def open_or_update(self, alert: Doc, title: str, opened_by: str) -> tuple[str, bool]:
        """The playbook's incident for the alert's attacker (else its group) and tenant: (id, True
        if it was created now).

        A closed one is reopened; a contained one keeps its status and gets the alert."""
        # One incident per attacker: every alert the playbook answers from one source address is
        # one matter to handle and one initial notice upstream (an IDS's brute-force alert and the
        # correlation rule's over the same logins are the same attack). Without a source, the
        # alert's own group.
        source = get_path(alert, "source.ip")
        group = (f"source.ip={source}" if source else
                 str(get_path(alert, "soc.alert.group_key", "") or get_path(alert, "rule.id", "")))
        tenant = get_path(alert, "labels.tenant")
        # The tenant is part of the id: one attacker across two tenants makes two incidents, so
        # no tenant's officer sees another's alerts through a shared incident.
        iid = stable_id("incident", opened_by, group, str(tenant or ""))
        for attempt in range(RETRIES):
            if attempt:
                await _backoff(attempt)
            now = now_iso()
            try:
                found = await self.es.get(index=self.index, id=iid)
            except NotFoundError:
                inc = _new(iid, title, "", opened_by, now)
                _absorb(inc, alert, opened_by, now)
                try:
                    await self.es.index(index=self.index, id=iid, document=_doc(inc, tenant), op_type="create",
                                        refresh=True)
                except ConflictError:
                    continue  # opened by another worker in the meantime: update that one
                return iid, True
            src = found["_source"]
            inc = src["soc"]["incident"]
            for key in ("alert_ids", "source_ips", "assets", "rule_names"):
                inc.setdefault(key, [])
            _absorb(inc, alert, opened_by, now)
            if inc.get("status") == "closed":
                inc.update({"status": "open", "reopened": now, "closed": None, "status_reason": None})
                _append(inc, entry("status_change", opened_by, "closed → open: 同组告警再次出现 (the group alerted again)",
                                   now))
            inc["updated"] = now
            try:
                await self.es.index(index=self.index, id=iid, document=src, refresh=True,
                                    if_seq_no=found["_seq_no"], if_primary_term=found["_primary_term"])
            except ConflictError:
                continue  # changed meanwhile (a note, a status): read it again
            return iid, False
        raise Refused(f"事件 {iid} 正被并发修改，请重试 (incident changed concurrently, try again)")

    # -- analysts --------------------------------------------------------------------------------

    async def create(self, title: str, summary: str, alert_ids: list[str], actor: str, tenants: list[str]) -> Doc:
        """An incident opened by hand from alerts of one tenant (the incident's tenant).

        NotFound for an alert that does not exist or that the caller may not see (the two are
        indistinguishable); Invalid for alerts of several tenants."""
        ids = list(dict.fromkeys(a for a in alert_ids if a))
        if not ids:
            raise Invalid("至少需要一条告警 (at least one alert)")
        res = await self.es.options(ignore_status=404).mget(index=self.alerts, ids=ids)
        docs = {d["_id"]: d["_source"] for d in res.get("docs", []) if d.get("found")} if res.meta.status == 200 else {}
        for aid in ids:
            if aid not in docs or not sees(tenants, get_path(docs[aid], "labels.tenant")):
                raise NotFound(f"没有这条告警 (no such alert): {aid}")
        found_tenants = {get_path(docs[a], "labels.tenant") for a in ids}
        if len(found_tenants) != 1:
            names = ", ".join(sorted(str(t) for t in found_tenants))
            raise Invalid(f"告警属于多个租户，须分别开事件 (the alerts belong to several tenants: {names})")
        tenant = found_tenants.pop()
        now = now_iso()
        iid = uuid.uuid4().hex
        inc = _new(iid, title, summary, actor, now)
        for aid in ids:
            _absorb(inc, docs[aid], actor, now, alert_id=aid)
        doc = _doc(inc, tenant)
        await self.es.index(index=self.index, id=iid, document=doc, op_type="create", refresh=True)
        return doc

    async def search(self, tenants: list[str], status: str | None = None, reported_only: bool = False,
                     size: int = 100) -> list[Doc]:
        """Incidents the caller sees, most recently changed first (without their timelines)."""
        flt: list[dict[str, Any]] = _scope(tenants)
        if status:
            flt.append({"term": {"soc.incident.status": status}})
        if reported_only:
            flt.append({"term": {"soc.incident.reported": True}})
        res = await self.es.options(ignore_status=404).search(
            index=self.index, query={"bool": {"filter": flt}}, size=size,
            sort=[{"soc.incident.updated": {"order": "desc", "unmapped_type": "date"}}],
            source_excludes=["soc.incident.timeline"])
        if res.meta.status == 404:
            return []
        return [h["_source"] for h in res["hits"]["hits"]]

    async def _get(self, iid: str, tenants: list[str], reported_only: bool = False) -> dict[str, Any]:
        try:
            hit = await self.es.get(index=self.index, id=iid)
        except NotFoundError:
            raise NotFound("没有这个事件 (no such incident)") from None
        src = hit["_source"]
        if not sees(tenants, get_path(src, "labels.tenant")) or (
                reported_only and get_path(src, "soc.incident.reported") is not True):
            raise NotFound("没有这个事件 (no such incident)")
        return dict(hit)

    async def get(self, iid: str, tenants: list[str], reported_only: bool = False) -> Doc:
        """The incident document (with its timeline); NotFound if absent or not the caller's."""
        return dict((await self._get(iid, tenants, reported_only))["_source"])

    async def alerts_of(self, incident: Doc, tenants: list[str]) -> list[Doc]:
        """The incident's alerts the caller sees, oldest first."""
        ids = list(get_path(incident, "soc.incident.alert_ids", []) or [])
        if not ids:
            return []
        res = await self.es.options(ignore_status=404).search(
            index=self.alerts, size=len(ids), query={"bool": {"filter": [*_scope(tenants), {"ids": {"values": ids}}]}},
            sort=[{"@timestamp": {"order": "asc", "unmapped_type": "date"}}])
        return [h["_source"] for h in res["hits"]["hits"]] if res.meta.status == 200 else []

    async def _change(self, iid: str, tenants: list[str],
                      change: Callable[[dict[str, Any], str], T]) -> tuple[Doc, T]:
        """Read, apply change(incident, now), write back if nobody wrote in between; else again.

        change may raise (Refused for a move the current status does not allow): it is checked
        against the state as it is when written, never a stale one."""
        for attempt in range(RETRIES):
            if attempt:
                await _backoff(attempt)
            hit = await self._get(iid, tenants)
            src = hit["_source"]
            now = now_iso()
            result = change(src["soc"]["incident"], now)
            src["soc"]["incident"]["updated"] = now
            try:
                await self.es.index(index=self.index, id=iid, document=src, refresh=True,
                                    if_seq_no=hit["_seq_no"], if_primary_term=hit["_primary_term"])
            except ConflictError:
                continue
            return src, result
        raise Refused(f"事件 {iid} 正被并发修改，请重试 (incident changed concurrently, try again)")

    async def add_note(self, iid: str, text: str, actor: str, tenants: list[str]) -> dict[str, str]:
        """Append a note to the timeline: the entry as stored."""

        def note(inc: dict[str, Any], now: str) -> dict[str, str]:
            e = entry("note", actor, text, now)
            _append(inc, e)
            return e

        return (await self._change(iid, tenants, note))[1]

    async def set_status(self, iid: str, status: str, reason: str, actor: str, tenants: list[str]) -> Doc:
        """Move the incident (MOVES); closing needs a reason. The incident document after."""
        if status not in STATUSES:
            raise Invalid(f"status must be one of {', '.join(STATUSES)}")
        if status == "closed" and not reason.strip():
            raise Invalid("关闭事件需要说明原因 (closing an incident needs a reason)")

        def move(inc: dict[str, Any], now: str) -> None:
            current = str(inc.get("status") or "open")
            if status not in MOVES.get(current, set()):
                raise Refused(f"不能从 {current} 改为 {status} (not a valid move)")
            inc.update({"status": status, "status_reason": reason or None,
                        "closed": now if status == "closed" else None})
            if current == "closed":
                inc["reopened"] = now
            _append(inc, entry("status_change", actor, f"{current} → {status}" + (f": {reason}" if reason else ""), now))

        return (await self._change(iid, tenants, move))[0]

    async def set_owner(self, iid: str, owner: str, actor: str, tenants: list[str]) -> Doc:
        """Who handles the incident (负责人); a timeline entry says who handed it to whom."""
        if not owner.strip():
            raise Invalid("负责人不能为空 (the owner cannot be empty)")

        def assign(inc: dict[str, Any], now: str) -> None:
            before = inc.get("owner")
            inc["owner"] = owner.strip()
            _append(inc, entry("owner", actor, f"{before or '—'} → {owner.strip()}", now))

        return (await self._change(iid, tenants, assign))[0]

    async def set_grading(self, iid: str, classification: Classification, grading: Grading, actor: str,
                          override_reason: str | None = None, *, tenants: list[str],
                          operator_type: str = "ordinary", note: str = "") -> Doc:
        """Store the classification and grade (with their reasons) and a timeline entry: `grading`,
        or `grading_override` when override_reason is given (an analyst's own grade or category:
        the reason is required and kept). The incident document after."""
        if override_reason is not None and not override_reason.strip():
            raise Invalid("人工定级或改类需要说明原因 (an override needs a reason)")

        def record(inc: dict[str, Any], now: str) -> None:
            before = inc.get("grade")
            sub = (f" / {classification.subcategory}（{classification.subcategory_code}）"
                   if classification.subcategory else "")
            inc.update({
                "category": classification.category, "category_code": classification.category_code,
                "subcategory": classification.subcategory, "subcategory_code": classification.subcategory_code,
                "classification_basis": list(classification.basis),
                "grade": grading.grade, "grade_code": grading.code, "grade_basis": list(grading.basis),
                "graded_by": actor, "graded_at": now, "operator_type": operator_type,
                "grade_override": override_reason is not None,
                "grade_override_reason": override_reason.strip() if override_reason is not None else None,
            })
            change = f"{before} → {grading.grade}" if before and before != grading.grade else grading.grade
            text = (f"定级：{change}（{grading.code}）；分类：{classification.category}（{classification.category_code}）"
                    f"{sub}；运营者类型：{operator_type}")
            if override_reason is not None:
                _append(inc, entry("grading_override", actor, f"人工{text}；原因：{override_reason.strip()}", now))
            else:
                _append(inc, entry("grading", actor, f"自动{text}" + (f"；说明：{note.strip()}" if note.strip() else ""),
                                   now))

        return (await self._change(iid, tenants, record))[0]
