"""What a person does with blocks, the same from the CLI and the API: add, remove, approve, reject.

Each decision is written to the block store (the worker's enforcer applies it within
`response.sweep_interval_s`) and recorded as an Action in soc-actions with who decided it.
"""

from __future__ import annotations

from typing import Any

from soc.assets import load_inventory
from soc.config import Settings
from soc.model import Action, ActionKind, ActionState
from soc.response.blocks import (ACTIVE, APPROVED, PENDING, REJECTED, REMOVING, Block, BlockStore, expiry,
                                 normalize_target, utcnow)
from soc.response.service import safety

TRANSITIONS: dict[str, tuple[tuple[str, ...], str, ActionKind, ActionState, str]] = {
    "remove": ((ACTIVE, APPROVED, PENDING), REMOVING, ActionKind.UNBLOCK, ActionState.APPROVED, "解除封禁"),
    "approve": ((PENDING,), APPROVED, ActionKind.BLOCK_IP, ActionState.APPROVED, "审批通过"),
    "reject": ((PENDING,), REJECTED, ActionKind.BLOCK_IP, ActionState.FAILED, "审批拒绝"),
}


class Refused(ValueError):
    """The decision cannot be taken (allowlisted, no such block, changed meanwhile); says why."""


async def record(es: Any, s: Settings, block: Block, actor: str, kind: ActionKind, state: ActionState,
                 reason: str) -> None:
    doc = Action(playbook="manual", alert_id=block.id, kind=kind, target=block.target, state=state,
                 decided_by=actor, reason=reason, ttl_seconds=block.ttl_seconds).to_doc()
    doc["soc"]["action"]["block_id"] = block.id
    doc["event"]["id"] = doc["soc"]["action"]["id"] = f"{doc['event']['id']}-{block.updated}"
    await es.index(index=f"{s.elastic.index_prefix}-actions", id=doc["event"]["id"], document=doc)


async def add(store: BlockStore, es: Any, s: Settings, target: str, ttl_s: int, reason: str, devices: list[str],
              actor: str) -> Block:
    """Block a target by hand: approved at once (a person decided), the allowlist still applies."""
    t = normalize_target(target)
    why = safety(s, load_inventory(s.assets_file)).allowlisted(t)
    if why:
        raise Refused(f"{t} 在白名单中，不能封禁: {why}")
    ttl_s = min(ttl_s, s.response.max_ttl_s)
    now = utcnow()
    old = await store.get("all", t)
    block = Block(target=t, scope="all", state=APPROVED, ttl_seconds=ttl_s, expires_at=expiry(now, ttl_s),
                  playbook="manual", reason=reason, decided_by=actor, devices=devices or ["feed"], approved_by=actor,
                  offenses=(old.offenses + 1) if old is not None else 1)
    if old is not None:
        block.seq, block.created = old.seq, old.created
    if not await store.put(block):
        raise Refused("the block changed meanwhile; try again")
    await record(es, s, block, actor, ActionKind.BLOCK_IP, ActionState.APPROVED, f"人工封禁: {reason}")
    return block


async def transition(store: BlockStore, es: Any, s: Settings, what: str, target_or_id: str, actor: str) -> Block:
    """remove / approve / reject a block named by its id or target."""
    allowed, new_state, kind, state, words = TRANSITIONS[what]
    for block in await store.by_state(*allowed):
        if target_or_id in (block.id, block.target) or _same_target(target_or_id, block.target):
            block.state = new_state
            block.approved_by = actor
            if not await store.put(block):
                raise Refused("the block changed meanwhile; try again")
            await record(es, s, block, actor, kind, state, words)
            return block
    raise Refused(f"没有可{words}的封禁: {target_or_id}")


def _same_target(given: str, target: str) -> bool:
    try:
        return normalize_target(given) == target
    except ValueError:
        return False
