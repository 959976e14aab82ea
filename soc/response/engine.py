"""The playbook engine: which playbooks an alert triggers, and what their steps decide and do.

Safety comes before any step touches a device, as the trusted responders do it (CrowdSec's
decisions with durations and allowlists, fail2ban's ignoreip and bantime escalation, Wazuh's
stateful active response):
- the allowlist (configured entries, loopback, the inventory's critical assets) is never blocked;
- a CIDR block wider than the configured prefix, or an address of an asset whose criticality
  is listed, waits for an analyst's approval (so does every block after `wait_for_approval`);
- each playbook applies at most `max_blocks_per_minute` blocks;
- the same target again is the same block (its expiry extended), a repeat offender's new block
  lasts longer (escalation, capped), and every TTL is capped by `max_ttl_s`;
- `simulate: true` decides and records, and applies nothing.
Every decision is an Action (soc.actions, index soc-actions): what, on what, for how long,
by whom and why, and how to undo it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from soc.model import Action, ActionKind, ActionState, Doc, get_path
from soc.store.bulk import unavailable
from soc.response.blocks import ACTIVE, PENDING, REJECTED, REMOVING, Block, BlockStore, expiry, normalize_target, utcnow
from soc.response.playbook import LEVELS, Block as BlockStep, Playbook, Trigger, When

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Apply = Callable[[Block], Awaitable[list[Doc]]]  # the enforcer: apply a block to its devices
Notify = Callable[[str, str, Doc, dict[str, Any]], Awaitable[None]]  # channel, template, alert, extra


@dataclass
class Safety:
    allowlist: list[tuple[Network, str]] = field(default_factory=list)  # network, why
    approval_wider_than_v4: int = 24
    approval_wider_than_v6: int = 64
    approval_criticality: tuple[str, ...] = ("high",)
    max_blocks_per_minute: int = 30
    max_ttl_s: int = 30 * 86400

    def allowlisted(self, target: str) -> str | None:
        """Why target may never be blocked, or None. A block that overlaps an entry counts."""
        net = ipaddress.ip_network(target, strict=False)
        for entry, why in self.allowlist:
            if entry.version == net.version and entry.overlaps(net):
                return f"{entry} ({why})"
        return None


def enrichment_summary(found: Doc) -> str:
    """One line for the audit trail: the source's recent alerts, threat intelligence, the asset."""
    parts = []
    h = found.get("history")
    if h is not None:
        parts.append(f"近 {human(h['window_s'])} 告警 {h['alerts']} 条" + (f"（{'、'.join(h['rules'][:3])}）" if h["rules"] else ""))
    ti = found.get("threat_intel")
    if ti is not None:
        parts.append("情报命中: " + "；".join(f"{m['indicator']} {m['label']}" for m in ti) if ti else "情报未命中")
    asset = found.get("asset")
    if asset:
        parts.append(f"资产 {asset.get('name', '-')}（等保 {asset.get('mlps_level', '-')} 级，{asset.get('criticality', '-')}）")
    return "富化: " + ("；".join(parts) or "无")


def human(seconds: int) -> str:
    """3600 → 1小时, 90 → 1分30秒: how long, as the duty group reads it."""
    parts = []
    for unit, name in ((86400, "天"), (3600, "小时"), (60, "分"), (1, "秒")):
        if seconds >= unit:
            parts.append(f"{seconds // unit}{name}")
            seconds %= unit
    return "".join(parts[:2]) or "0秒"


# --------------------------------------------------------------------------- triggers


def _holds(cond: When, alert: Doc) -> bool:
    value = get_path(alert, cond.field)
    if cond.exists is not None and (value is not None) != cond.exists:
        return False
    if cond.equals is not None and value != cond.equals:
        return False
    if cond.not_equals is not None and value == cond.not_equals:
        return False
    if cond.one_of is not None and value not in cond.one_of:
        return False
    for nets, inside in ((cond.in_cidr, True), (cond.not_in_cidr, False)):
        if nets is None:
            continue
        try:
            addr = ipaddress.ip_address(str(value))
        except ValueError:
            return False
        hit = any(addr in ipaddress.ip_network(n, strict=False) for n in nets)
        if hit != inside:
            return False
    for bound, ok in ((cond.gte, lambda v, b: v >= b), (cond.lte, lambda v, b: v <= b)):
        if bound is not None:
            try:
                if not ok(float(value), bound):
                    return False
            except (TypeError, ValueError):
                return False
    return True


def _tag_matches(wanted: str, tags: list[str]) -> bool:
    w = wanted.lower()
    return any(t.lower() == w or t.lower().startswith(w + ".") for t in tags)


def triggered(trigger: Trigger, alert: Doc) -> bool:
    """Whether the alert is one the trigger names (every criterion; lists: any of)."""
    if trigger.rules and not ({get_path(alert, "rule.id"), get_path(alert, "rule.name")} & set(trigger.rules)):
        return False
    tags = [str(t) for t in get_path(alert, "rule.tags", None) or get_path(alert, "tags", None) or []]
    if trigger.tags and not any(_tag_matches(t, tags) for t in trigger.tags):
        return False
    if trigger.min_level is not None:
        level = str(get_path(alert, "soc.alert.severity", "") or "")  # the Sigma level (soc.model.Alert)
        if level not in LEVELS or LEVELS.index(level) < LEVELS.index(trigger.min_level):
            return False
    if trigger.mlps_levels and get_path(alert, "soc.asset.mlps_level") not in trigger.mlps_levels:
        return False
    if trigger.criticality and get_path(alert, "soc.asset.criticality") not in trigger.criticality:
        return False
    if trigger.tenants and get_path(alert, "labels.tenant") not in trigger.tenants:
        return False
    return all(_holds(c, alert) for c in trigger.when)


# --------------------------------------------------------------------------- the engine


class Responder:
    def __init__(self, playbooks: list[Playbook], store: BlockStore, safety: Safety, apply: Apply,
                 notify: Notify | None = None,
                 enrich: Callable[[Doc, int | None, bool], Awaitable[Doc]] | None = None,
                 open_incident: Callable[[Doc, str, str], Awaitable[tuple[str, bool]]] | None = None,
                 report: Callable[[str, str, str], Awaitable[tuple[str, list[Doc], list[dict[str, str]]]]] | None = None,
                 criticality_of: Callable[[str], str | None] = lambda _ip: None) -> None:
        self.playbooks = playbooks
        self.store = store
        self.safety = safety
        self.apply = apply
        self.notify = notify
        self.enrich = enrich
        self.open_incident = open_incident
        self.report = report
        self.criticality_of = criticality_of

    async def handle(self, alert: Doc, now: datetime | None = None) -> list[Doc]:
        """Run every enabled playbook the alert triggers; the Actions it decided."""
        actions: list[Doc] = []
        for book in self.playbooks:
            if book.enabled and triggered(book.trigger, alert):
                actions += await self.run(book, alert, now or utcnow())
        return actions

    async def run(self, book: Playbook, alert: Doc, now: datetime) -> list[Doc]:
        out: list[Doc] = []
        extra: dict[str, Any] = {"playbook": book.name}
        gated = False
        alert_id = str(get_path(alert, "soc.alert.id", "") or get_path(alert, "event.id", ""))
        # A later revision of the same alert (a correlation still counting) keeps its blocks in
        # force; what was said and opened at the first revision is not said again.
        again = int(get_path(alert, "soc.alert.revision", 1) or 1) > 1
        for i, step in enumerate(book.steps):
            if again and step.action not in ("block_ip", "block_cidr", "wait_for_approval"):
                continue
            def act(kind: ActionKind, state: ActionState, target: str, reason: str, ttl: int | None = None,
                    simulated: bool = book.simulate, _i: int = i) -> Doc:
                doc = Action(playbook=book.id, alert_id=alert_id, kind=kind, target=target, state=state,
                             decided_by=f"playbook:{book.id}", reason=reason, simulated=simulated,
                             ttl_seconds=ttl, step=_i).to_doc()
                out.append(doc)
                return doc

            ok = True
            if step.action == "enrich":
                if self.enrich is not None:
                    extra["enrichment"] = found = await self.enrich(alert, step.history, step.threat_intel)
                    act(ActionKind.RECORD, ActionState.APPLIED, str(get_path(alert, "source.ip", "") or alert_id),
                        enrichment_summary(found))
            elif step.action == "wait_for_approval":
                gated = True
                extra["approval_timeout"] = step.timeout
                extra["on_timeout"] = step.on_timeout
            elif step.action in ("block_ip", "block_cidr"):
                ok = await self._block(book, step, alert, alert_id, now, gated, extra, act, out)
            elif step.action == "unblock":
                ok = await self._unblock(book, str(get_path(alert, step.target, "") or ""), act)
            elif step.action == "notify":
                ok = await self._notify(book, step.channel, step.template, alert, extra, act)
            elif step.action == "open_incident":
                ok = await self._incident(book, step.title or str(get_path(alert, "rule.name", "")), alert, extra, act)
            elif step.action == "report_upstream":
                ok = await self._report(book, step.kind, extra, act)
            if not ok and book.on_failure == "stop":
                break
        return out

    async def _block(self, book: Playbook, step: BlockStep, alert: Doc, alert_id: str, now: datetime,
                     gated: bool, extra: dict[str, Any], act: Callable[..., Doc], out: list[Doc]) -> bool:
        raw = get_path(alert, step.target)
        try:
            target = normalize_target(f"{raw}/{step.prefix}" if step.prefix else str(raw))
        except ValueError:
            act(ActionKind.BLOCK_IP, ActionState.FAILED, str(raw or ""), f"{step.target} 不是地址: {raw!r}")
            return False
        why_not = self.safety.allowlisted(target)
        if why_not:
            act(ActionKind.BLOCK_IP, ActionState.REVERTED, target, f"白名单，不封禁: {why_not}", simulated=book.simulate)
            return True
        ttl = min(step.ttl, self.safety.max_ttl_s)
        approval = self._approval_reason(target, gated)
        if book.simulate:
            act(ActionKind.BLOCK_IP, ActionState.PROPOSED, target,
                f"模拟：将封禁 {target} {ttl}s" + (f"（需审批：{approval}）" if approval else ""), ttl, simulated=True)
            return True
        if not approval and await self.store.recent_count(book.id, now - timedelta(minutes=1)) \
                >= self.safety.max_blocks_per_minute:
            act(ActionKind.BLOCK_IP, ActionState.FAILED, target,
                f"超过速率限制（每分钟 {self.safety.max_blocks_per_minute} 个封禁），未封禁", ttl)
            return False
        scope = "all"
        for _ in range(5):  # optimistic concurrency: re-read and decide again on a conflict
            block = await self.store.get(scope, target)
            decided = self._decide(book, step, block, target, ttl, alert, alert_id, now, approval, extra)
            if decided is None:
                act(ActionKind.BLOCK_IP, ActionState.APPLIED, target, "同一告警已封禁，无需重复", ttl)
                return True
            if await self.store.put(decided):
                break
        else:
            act(ActionKind.BLOCK_IP, ActionState.FAILED, target, "封禁记录并发冲突，稍后由执行器重试", ttl)
            return False
        extra["block"] = {"id": decided.id, "target": target, "ttl": decided.ttl_seconds,
                          "ttl_human": human(decided.ttl_seconds), "expires_at": decided.expires_at,
                          "devices": decided.devices, "offenses": decided.offenses}
        if decided.state == PENDING:
            extra["approval"] = {"id": decided.id, "reason": approval, "on_timeout": decided.on_timeout,
                                 "timeout_human": human(int(extra.get("approval_timeout", 3600)))}
            act(ActionKind.BLOCK_IP, ActionState.PROPOSED, target,
                f"待审批：{approval}；审批: soc block approve {decided.id}", decided.ttl_seconds)
            return True
        act(ActionKind.BLOCK_IP, ActionState.APPROVED, target,
            f"{get_path(alert, 'rule.name', '')}: 封禁 {decided.ttl_seconds}s（第 {decided.offenses} 次），"
            f"至 {decided.expires_at}；解除: soc block remove {target}", decided.ttl_seconds)
        results = await self.apply(decided)  # one Action per device, from the enforcer
        for r in results:
            r["soc"]["action"]["playbook"] = book.id
            r["soc"]["action"]["alert_id"] = alert_id
        out.extend(results)
        return all(get_path(r, "soc.action.state") == ActionState.APPLIED.value for r in results)

    def _approval_reason(self, target: str, gated: bool) -> str:
        if gated:
            return "剧本要求审批"
        net = ipaddress.ip_network(target, strict=False)
        limit = self.safety.approval_wider_than_v4 if net.version == 4 else self.safety.approval_wider_than_v6
        if net.prefixlen < limit:
            return f"网段 /{net.prefixlen} 宽于 /{limit}"
        crit = self.criticality_of(str(net.network_address))
        if crit is not None and crit in self.safety.approval_criticality:
            return f"目标属于重要资产（{crit}）"
        return ""

    def _decide(self, book: Playbook, step: BlockStep, block: Block | None, target: str, ttl: int, alert: Doc,
                alert_id: str, now: datetime, approval: str, extra: dict[str, Any]) -> Block | None:
        """The block to write, or None when nothing changes (the same alert again, already active)."""
        rule_id, rule_name = str(get_path(alert, "rule.id", "")), str(get_path(alert, "rule.name", ""))
        if block is not None and block.state == PENDING and block.expires() > now:
            if alert_id in block.alert_ids:
                return None
            block.alert_ids = (block.alert_ids + [alert_id])[-50:]
            return block
        if block is not None and block.state == ACTIVE and block.expires() > now:
            # The same target again: one block, in force for its TTL from now (not a new offense).
            moved = max(block.expires_at, expiry(now, block.ttl_seconds))
            if moved == block.expires_at and alert_id in block.alert_ids:
                return None
            block.expires_at = moved
            block.alert_ids = (block.alert_ids + [alert_id] if alert_id not in block.alert_ids
                               else block.alert_ids)[-50:]
            return block
        # A new block; a target blocked before (expired, or lifted) is a repeat offender.
        offenses = 1
        if block is not None:
            offenses = block.offenses + (0 if block.state in (REJECTED, PENDING) else 1)
        if step.escalate is not None and offenses > 1:
            ttl = int(min(ttl * step.escalate.factor ** (offenses - 1), step.escalate.max, self.safety.max_ttl_s))
        new = Block(target=target, scope="all", state=PENDING if approval else ACTIVE, ttl_seconds=ttl,
                    expires_at=expiry(now, int(extra.get("approval_timeout", 3600)) if approval else ttl),
                    playbook=book.id, reason=f"{rule_name} ({rule_id})", decided_by=f"playbook:{book.id}",
                    devices=list(step.devices), rule_id=rule_id, rule_name=rule_name, alert_ids=[alert_id],
                    offenses=offenses, approval_reason=approval,
                    on_timeout=str(extra.get("on_timeout", "reject")))
        if block is not None:
            new.seq, new.created = block.seq, block.created
        return new

    async def _unblock(self, book: Playbook, raw: str, act: Callable[..., Doc]) -> bool:
        try:
            target = normalize_target(raw)
        except ValueError:
            act(ActionKind.UNBLOCK, ActionState.FAILED, raw, f"不是地址: {raw!r}")
            return False
        block = await self.store.get("all", target)
        if block is None or block.state != ACTIVE:
            act(ActionKind.UNBLOCK, ActionState.APPLIED, target, "未封禁，无需解除")
            return True
        if book.simulate:
            act(ActionKind.UNBLOCK, ActionState.PROPOSED, target, "模拟：将解除封禁", simulated=True)
            return True
        block.state = REMOVING
        if await self.store.put(block):
            act(ActionKind.UNBLOCK, ActionState.PROPOSED, target, f"剧本 {book.id} 解除封禁，执行器撤销设备上的封禁")
            return True
        act(ActionKind.UNBLOCK, ActionState.FAILED, target, "封禁记录并发冲突")
        return False

    async def _incident(self, book: Playbook, title: str, alert: Doc, extra: dict[str, Any],
                        act: Callable[..., Doc]) -> bool:
        if book.simulate or self.open_incident is None:
            act(ActionKind.OPEN_INCIDENT, ActionState.PROPOSED, title, "模拟：将开事件" if book.simulate else "未配置事件库")
            return book.simulate
        try:
            iid, created = await self.open_incident(alert, title, f"playbook:{book.id}")
        except Exception as exc:  # noqa: BLE001 - recorded, never stops the playbook
            if unavailable(exc):
                raise  # Elasticsearch away: the respond stage waits and runs the playbook again
            act(ActionKind.OPEN_INCIDENT, ActionState.FAILED, title, f"开事件失败: {exc}")
            return False
        extra["incident_id"] = iid
        act(ActionKind.OPEN_INCIDENT, ActionState.APPLIED, iid, ("新开事件: " if created else "并入已有事件: ") + title)
        return True

    async def _report(self, book: Playbook, kind: str, extra: dict[str, Any], act: Callable[..., Doc]) -> bool:
        """Grade the incident the playbook opened and queue its notice upstream (soc/reporting/auto.py)."""
        iid = extra.get("incident_id")
        if not iid:
            act(ActionKind.REPORT, ActionState.FAILED, "", "上报前须先开事件 (open_incident must come before report_upstream)")
            return False
        if book.simulate or self.report is None:
            act(ActionKind.REPORT, ActionState.PROPOSED, iid, f"模拟：将定级并上报（{kind}）" if book.simulate
                else "未配置上报 (reporting not configured)", simulated=book.simulate)
            return book.simulate
        try:
            grade, queued, skipped = await self.report(iid, kind, f"playbook:{book.id}")
        except Exception as exc:  # noqa: BLE001 - a refusal (no receiver for the grade...) is recorded, never fatal
            if unavailable(exc):
                raise  # Elasticsearch away: the respond stage waits and runs the playbook again
            act(ActionKind.REPORT, ActionState.REVERTED, iid, f"未上报 (not reported): {exc}")
            return True
        act(ActionKind.REPORT, ActionState.APPLIED, iid,
            f"定级 {grade}；已排队 {len(queued)} 份{kind}通报：" + ", ".join(q["soc"]["notice"]["endpoint"] for q in queued)
            + ("；跳过 " + "; ".join(f"{s['endpoint']}: {s['reason']}" for s in skipped) if skipped else ""))
        return True

    async def _notify(self, book: Playbook, channel: str, template: str, alert: Doc, extra: dict[str, Any],
                      act: Callable[..., Doc]) -> bool:
        if self.notify is None:
            act(ActionKind.NOTIFY, ActionState.FAILED, channel, "未配置通知")
            return False
        if book.simulate:
            act(ActionKind.NOTIFY, ActionState.PROPOSED, channel, f"模拟：将用模板 {template} 通知", simulated=True)
            return True
        try:
            await self.notify(channel, template, alert, extra)
        except Exception as exc:  # noqa: BLE001 - a failed notice is recorded, never stops the playbook
            if unavailable(exc):
                raise  # Elasticsearch away: the respond stage waits and runs the playbook again
            act(ActionKind.NOTIFY, ActionState.FAILED, channel, f"通知失败: {exc}")
            return False
        act(ActionKind.NOTIFY, ActionState.APPLIED, channel, f"已用模板 {template} 通知")
        return True
