"""Playbooks: what to do about an alert, as data (playbooks/*.yml), validated before use.

A playbook has a trigger (which alerts), ordered steps, `simulate` (decide and record, apply
nothing) and an on-failure policy. A file that does not validate is rejected whole, with the
file, the line and the problem (soc.yamlfile); the others still load. The engine
(soc/response/engine.py) never sees a half-loaded playbook.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from soc.yamlfile import FileError, load_model

LEVELS = ("informational", "low", "medium", "high", "critical")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def seconds(value: Any) -> int:
    """`90s`, `30m`, `1h`, `7d`, `2w` or a number of seconds → seconds (> 0)."""
    if isinstance(value, bool):
        raise ValueError("a duration like 30m, 1h or 7d")
    if isinstance(value, int | float):
        n = int(value)
    else:
        m = _DURATION.match(str(value))
        if not m:
            raise ValueError(f"a duration like 30m, 1h or 7d, not {value!r}")
        n = int(m.group(1)) * _UNIT[m.group(2)]
    if n <= 0:
        raise ValueError("a duration must be positive")
    return n


Duration = Annotated[int, BeforeValidator(seconds)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class When(_Strict):
    """One condition on an alert field (dotted ECS name); every condition of a trigger must hold."""

    field: str = Field(min_length=1)
    equals: Any = None
    not_equals: Any = None
    one_of: list[Any] | None = None
    in_cidr: list[str] | None = None
    not_in_cidr: list[str] | None = None
    exists: bool | None = None
    gte: float | None = None
    lte: float | None = None

    @field_validator("in_cidr", "not_in_cidr")
    @classmethod
    def _cidrs(cls, nets: list[str] | None) -> list[str] | None:
        for n in nets or []:
            ipaddress.ip_network(n, strict=False)
        return nets

    @model_validator(mode="after")
    def _one_test(self) -> When:
        tests = [k for k in ("equals", "not_equals", "one_of", "in_cidr", "not_in_cidr", "exists", "gte", "lte")
                 if getattr(self, k) is not None]
        if not tests:
            raise ValueError("a condition needs a test: equals, not_equals, one_of, in_cidr, not_in_cidr, "
                             "exists, gte or lte")
        return self


class Trigger(_Strict):
    """Which alerts a playbook handles: every given criterion must hold (lists: any of)."""

    rules: list[str] = Field(default_factory=list)  # rule ids or names
    tags: list[str] = Field(default_factory=list)  # e.g. attack.t1110
    min_level: Literal["informational", "low", "medium", "high", "critical"] | None = None
    mlps_levels: list[int] = Field(default_factory=list)  # of the asset concerned (soc.asset.mlps_level)
    criticality: list[Literal["low", "medium", "high", "critical"]] = Field(default_factory=list)
    tenants: list[str] = Field(default_factory=list)
    when: list[When] = Field(default_factory=list)

    @model_validator(mode="after")
    def _not_everything(self) -> Trigger:
        if not (self.rules or self.tags or self.min_level):
            raise ValueError("a trigger names rules, tags or a min_level: a playbook for every alert is a mistake")
        return self


class Escalation(_Strict):
    """Repeat offenders: each new block of the same target lasts `factor` times longer, up to `max`."""

    factor: float = Field(2.0, ge=1.0, le=10.0)
    max: Duration = 7 * 86400


class Enrich(_Strict):
    action: Literal["enrich"]
    history: Duration | None = 86400  # recent alerts of the source, this far back
    threat_intel: bool = True  # the local indicator file (response.threat_intel_file)


class Block(_Strict):
    action: Literal["block_ip", "block_cidr"]
    target: str = "source.ip"  # the alert field holding the address
    prefix: int | None = Field(None, ge=8, le=128)  # block_cidr: the network of the address
    ttl: Duration  # mandatory: nothing is blocked for ever
    escalate: Escalation | None = None
    devices: list[str] = Field(default_factory=lambda: ["feed"])  # adapters (response.adapters)

    @model_validator(mode="after")
    def _prefix(self) -> Block:
        if self.action == "block_cidr" and self.prefix is None:
            raise ValueError("block_cidr needs prefix (e.g. 24)")
        if self.action == "block_ip" and self.prefix is not None:
            raise ValueError("block_ip takes no prefix (use block_cidr)")
        return self


class Unblock(_Strict):
    action: Literal["unblock"]
    target: str = "source.ip"


class Notify(_Strict):
    action: Literal["notify"]
    channel: str = Field(min_length=1)  # a configured channel (response.channels)
    template: str = Field(min_length=1)  # playbooks/templates/<template>.md


class OpenIncident(_Strict):
    action: Literal["open_incident"]
    title: str = ""  # default: the rule's name


class WaitForApproval(_Strict):
    action: Literal["wait_for_approval"]
    timeout: Duration = 3600
    on_timeout: Literal["reject", "approve"] = "reject"


class ReportUpstream(_Strict):
    action: Literal["report_upstream"]
    kind: Literal["initial", "follow_up", "final"] = "initial"


Step = Annotated[Enrich | Block | Unblock | Notify | OpenIncident | WaitForApproval | ReportUpstream,
                 Field(discriminator="action")]


class Playbook(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{1,63}$")
    name: str = Field(min_length=1)
    description: str = ""
    enabled: bool = True
    simulate: bool = False
    trigger: Trigger
    steps: list[Step] = Field(min_length=1)
    on_failure: Literal["continue", "stop"] = "stop"
    source: str = ""  # the file it came from (set by the loader)

    @model_validator(mode="after")
    def _approval_before_what_it_gates(self) -> Playbook:
        kinds = [s.action for s in self.steps]
        if "wait_for_approval" in kinds and not any(
                k in ("block_ip", "block_cidr", "unblock") for k in kinds[kinds.index("wait_for_approval"):]):
            raise ValueError("wait_for_approval gates nothing: put it before a block or unblock step")
        return self


def load_playbooks(folder: Path) -> tuple[list[Playbook], list[str]]:
    """Every playbook file of the folder (sorted); a bad file is left out whole, with its problems.

    Returns (playbooks, problems); two files with the same id are both a problem for the second.
    """
    books: list[Playbook] = []
    problems: list[str] = []
    seen: dict[str, str] = {}
    for path in sorted(folder.glob("*.yml")) + sorted(folder.glob("*.yaml")):
        try:
            book = load_model(path, Playbook)
        except FileError as exc:
            problems.extend(exc.problems)
            continue
        if book.id in seen:
            problems.append(f"{path}:1: id: {book.id!r} is already the id of {seen[book.id]}")
            continue
        seen[book.id] = str(path)
        books.append(book.model_copy(update={"source": str(path)}))
    return books, problems
