"""Enforcement adapters: where a block is applied. One module each, the same shape (`Adapter`).

An adapter applies or lifts one block and raises `AdapterError` when it could not; the
enforcer (soc/response/enforce.py) retries with backoff, records every attempt as an Action,
and raises an alert when it gives up. Adapters keep no state of their own: the block store
(soc/response/blocks.py) is the record of what is blocked until when.
"""

from __future__ import annotations

from typing import Protocol


class AdapterError(RuntimeError):
    """The device refused or could not be reached; the message says which and why."""


class Adapter(Protocol):
    name: str

    async def block(self, target: str, ttl_s: int, scope: str) -> None:
        """Block target (an address or a CIDR block) for ttl_s seconds, for scope (a tenant or "all")."""

    async def unblock(self, target: str, scope: str) -> None:
        """Lift the block of target (no error if there is none)."""
