"""The enforcer: the devices follow the block store.

`apply` puts one block on each of its devices (the blocklist feed needs nothing: it reads the
store) and returns one Action per device. `sweep`, run every `response.sweep_interval_s` by the
worker, moves the store forward and the devices with it:
- active blocks past their TTL are lifted (`expired`);
- blocks an operator, a playbook or a new allowlist entry removed are lifted (`removed`);
- approved blocks are applied once (`active`); pending ones past their deadline follow their
  timeout policy (reject, or approve);
- devices that failed are retried with backoff; after `apply_attempts` an alert says so.
Every transition is written with optimistic concurrency first and acted on after, so two
workers never apply the same transition twice, and a restart resumes where the store says.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from soc.model import Action, ActionKind, ActionState, Alert, Doc, parse_iso, stable_id
from soc.response.adapters import Adapter, AdapterError
from soc.response.blocks import (ACTIVE, APPROVED, EXPIRED, PENDING, REJECTED, REMOVED, REMOVING, Block,
                                 BlockStore, expiry, utcnow)  # noqa: F401 - states named in the doc
from soc.response.engine import Safety

FEED = "feed"
QUICK_RETRIES = (0.2, 1.0)  # within one apply; then the sweep's backoff


class Enforcer:
    def __init__(self, store: BlockStore, adapters: dict[str, Adapter], safety: Safety, attempts: int = 5,
                 raise_alert: Callable[[Doc], Awaitable[None]] | None = None) -> None:
        self.store = store
        self.adapters = adapters
        self.safety = safety
        self.attempts = attempts
        self.raise_alert = raise_alert

    def _action(self, block: Block, kind: ActionKind, state: ActionState, device: str, reason: str) -> Doc:
        doc = Action(playbook=block.playbook, alert_id=(block.alert_ids or [""])[-1], kind=kind, target=block.target,
                     state=state, decided_by=f"enforcer:{device}", reason=reason, ttl_seconds=block.ttl_seconds,
                     step=100 + block.attempts).to_doc()
        # One document per device and transition (a retry that succeeds is a second one).
        aid = stable_id("action", block.id, kind.value, device, block.expires_at, str(block.attempts), state.value)
        doc["event"]["id"] = doc["soc"]["action"]["id"] = aid
        doc["soc"]["action"]["device"] = device
        doc["soc"]["action"]["block_id"] = block.id
        doc["soc"]["action"]["expires_at"] = block.expires_at
        return doc

    async def _on(self, device: str, block: Block, lift: bool, now: datetime) -> str | None:
        """Do it on one device; the error, or None."""
        if device == FEED:
            return None
        adapter = self.adapters.get(device)
        if adapter is None:
            return f"设备 {device} 未配置 (response.nftables / response.rest_adapters)"
        error = ""
        for delay in (*QUICK_RETRIES, None):
            try:
                if lift:
                    await adapter.unblock(block.target, block.scope)
                else:
                    await adapter.block(block.target, max(1, block.remaining_s(now)), block.scope)
                return None
            except AdapterError as exc:
                error = str(exc)
            except Exception as exc:  # noqa: BLE001 - a device's surprise is a failure, not a crash
                error = f"{device}: {type(exc).__name__}: {exc}"
            if delay is not None:
                await asyncio.sleep(delay)
        return error

    async def apply(self, block: Block, devices: list[str] | None = None, now: datetime | None = None) -> list[Doc]:
        """Apply an active block on its devices (or those given); one Action per device."""
        now = now or utcnow()
        out, failed = [], []
        for device in devices if devices is not None else block.devices:
            error = await self._on(device, block, False, now)
            if error is None:
                out.append(self._action(block, ActionKind.BLOCK_IP, ActionState.APPLIED, device,
                                        f"已在 {device} 封禁，至 {block.expires_at}"))
            else:
                if device == FEED or device in self.adapters:  # a device not configured here: no retry
                    failed.append(device)
                out.append(self._action(block, ActionKind.BLOCK_IP, ActionState.FAILED, device, error))
        if failed or block.failed_devices:
            block.failed_devices, block.attempts = failed, (block.attempts + 1 if failed else 0)
            await self.store.put(block)
        return out

    async def lift(self, block: Block, why: str, now: datetime | None = None) -> list[Doc]:
        """Lift a block from every device; one Action per device."""
        now = now or utcnow()
        out = []
        state = ActionState.EXPIRED if block.state == EXPIRED else ActionState.REVERTED
        for device in block.devices:
            error = await self._on(device, block, True, now)
            out.append(self._action(block, ActionKind.UNBLOCK, ActionState.FAILED if error else state, device,
                                    error or why))
        return out

    async def sweep(self, now: datetime | None = None) -> tuple[list[Doc], list[Doc]]:
        """One round; (actions, alerts) to publish."""
        now = now or utcnow()
        actions: list[Doc] = []
        alerts: list[Doc] = []
        for block in await self.store.due(now):
            if block.state == ACTIVE:
                block.state = EXPIRED
                if await self.store.put(block):
                    actions += await self.lift(block, f"封禁到期（{block.ttl_seconds}s），已自动解除", now)
            elif block.state == PENDING:
                approve = block.on_timeout == "approve"
                block.state = ACTIVE if approve else REJECTED
                block.expires_at = expiry(now, block.ttl_seconds) if approve else block.expires_at
                block.approved_by = "timeout" if approve else ""
                if await self.store.put(block):
                    if approve:
                        actions += await self.apply(block, now=now)
                    else:
                        actions.append(self._action(block, ActionKind.BLOCK_IP, ActionState.FAILED, "approval",
                                                    "审批超时，按策略不封禁"))
        for block in await self.store.by_state(APPROVED):
            block.state, block.expires_at = ACTIVE, expiry(now, block.ttl_seconds)
            if await self.store.put(block):
                actions += await self.apply(block, now=now)
        for block in await self.store.by_state(REMOVING):
            block.state = REMOVED
            if await self.store.put(block):
                actions += await self.lift(block, f"已解除封禁（{block.approved_by or block.decided_by}）", now)
        for block in await self.store.by_state(ACTIVE):
            why = self.safety.allowlisted(block.target)
            if why:
                block.state = REMOVED
                if await self.store.put(block):
                    actions += await self.lift(block, f"白名单新增 {why}，撤销已有封禁", now)
            elif block.failed_devices and block.expires() > now:
                if block.attempts >= self.attempts:
                    alerts.append(self._failure_alert(block, now))
                    block.failed_devices = []
                    await self.store.put(block)
                elif _backoff_over(block, now):
                    actions += await self.apply(block, list(block.failed_devices), now)
        return actions, alerts

    def _failure_alert(self, block: Block, now: datetime) -> Doc:
        alert = Alert(rule_id="soc-response-block-failed", rule_name="封禁执行失败", level="high",
                      group_key=block.id, first_seen=now, last_seen=now, event_ids=list(block.alert_ids[-5:]),
                      count=block.attempts, tags=["soc.response"],
                      description=f"{block.target} 在 {', '.join(block.devices)} 上封禁失败 {block.attempts} 次，"
                                  "请人工处置（soc block list）",
                      context={"source": {"ip": block.target.split("/")[0]}}, window_start_id=block.updated)
        return alert.to_doc()


def _backoff_over(block: Block, now: datetime) -> bool:
    """Retry after 5 s, 10 s, 20 s... since the last attempt (the block's last update)."""
    wait = timedelta(seconds=5 * 2 ** max(0, block.attempts - 1))
    return parse_iso(block.updated) + wait <= now
