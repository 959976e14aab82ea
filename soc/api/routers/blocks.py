"""Blocks with a TTL: the list, manual block and unblock, the approvals queue (docs/response.md)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from soc.api.accounts import Principal
from soc.api.security import Services, invalid, require, services
from soc.response import operations
from soc.response.blocks import ACTIVE, APPROVED, PENDING, REMOVING, Block
from soc.response.playbook import seconds

router = APIRouter(prefix="/api/v1/blocks", tags=["blocks"])
READERS = ("analyst", "officer", "sysadmin", "automation")


class BlockOut(BaseModel):
    id: str
    target: str
    scope: str
    state: str
    expires_at: str
    ttl_seconds: int
    offenses: int
    playbook: str
    reason: str
    decided_by: str
    approval_reason: str = ""
    devices: list[str] = []


class NewBlock(BaseModel):
    target: str = Field(min_length=2, max_length=64, description="an address or a CIDR block")
    ttl: str = Field("1h", description="30m, 1h, 7d (capped by response.max_ttl_s)")
    reason: str = Field(min_length=1, max_length=500)
    devices: list[str] = Field(default_factory=lambda: ["feed"], max_length=10)


def _out(b: Block) -> BlockOut:
    return BlockOut(id=b.id, target=b.target, scope=b.scope, state=b.state, expires_at=b.expires_at,
                    ttl_seconds=b.ttl_seconds, offenses=b.offenses, playbook=b.playbook, reason=b.reason,
                    decided_by=b.decided_by, approval_reason=b.approval_reason, devices=b.devices)


@router.get("", response_model=list[BlockOut])
async def list_blocks(state: Literal["current", "pending", "all"] = "current",
                      who: Principal = Depends(require(*READERS)), svc: Services = Depends(services)) -> list[BlockOut]:
    """Blocks in force and waiting (`current`), the approvals queue (`pending`), or every block."""
    states = {"current": (ACTIVE, PENDING, APPROVED, REMOVING), "pending": (PENDING,)}.get(state)
    found = await (svc.blocks.by_state(*states) if states else svc.blocks.search({"match_all": {}}))
    return [_out(b) for b in found if b.scope == "all" or who.sees(b.scope)]


@router.post("", response_model=BlockOut, status_code=201)
async def add_block(body: NewBlock, who: Principal = Depends(require("analyst", "automation")),
                    svc: Services = Depends(services)) -> BlockOut:
    try:
        ttl_s = seconds(body.ttl)
        block = await operations.add(svc.blocks, svc.es, svc.settings, body.target, ttl_s, body.reason, body.devices,
                                     f"user:{who.name}")
    except (operations.Refused, ValueError) as exc:
        raise (HTTPException(409, str(exc)) if isinstance(exc, operations.Refused) else invalid(str(exc))) from None
    return _out(block)


async def _transition(what: str, ref: str, who: Principal, svc: Services) -> BlockOut:
    try:
        return _out(await operations.transition(svc.blocks, svc.es, svc.settings, what, ref, f"user:{who.name}"))
    except operations.Refused as exc:
        raise HTTPException(409, str(exc)) from None


@router.post("/{ref}/approve", response_model=BlockOut)
async def approve(ref: str, who: Principal = Depends(require("analyst")), svc: Services = Depends(services)) -> BlockOut:
    """Approve a pending block (a person, never a token): applied once, for its TTL from now."""
    return await _transition("approve", ref, who, svc)


@router.post("/{ref}/reject", response_model=BlockOut)
async def reject(ref: str, who: Principal = Depends(require("analyst")), svc: Services = Depends(services)) -> BlockOut:
    return await _transition("reject", ref, who, svc)


@router.delete("/{ref}", response_model=BlockOut)
async def remove(ref: str, who: Principal = Depends(require("analyst", "automation")),
                 svc: Services = Depends(services)) -> BlockOut:
    """Lift a block now, by its id or target."""
    return await _transition("remove", ref, who, svc)
