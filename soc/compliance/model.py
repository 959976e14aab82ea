"""MLPS 2.0 checks as data, and what a check says about one subject.

A check definition (`compliance/checks/*.yml`, content) names the control it evidences, the
levels it applies to, the evaluator (`kind`, engine code in soc/compliance/evaluators/) and its
parameters. Running it over a subject (one protected system, one zone, or the platform) gives a
Result: pass / fail / not_applicable / error, with a reason in Chinese and English and the
evidence an assessor asks for (counts, sample document ids, the time range, the query).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["pass", "fail", "not_applicable", "error"]
Scope = Literal["asset", "zone", "platform"]


class CheckDef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{2,63}$")
    title: str = Field(min_length=1)  # 中文
    title_en: str = ""
    control: str = Field(min_length=3, description="the GB/T 22239-2019 clause, e.g. 8.1.4.1 b")
    control_text: str = Field(min_length=1, description="the requirement's text, as the standard words it")
    level2_control: str = ""  # the level-2 counterpart's clause (7.1.x), when the check applies at level 2
    levels: list[Literal[1, 2, 3, 4]] = Field(min_length=1)
    scope: Scope = "asset"
    kind: str = Field(min_length=1, description="the evaluator, soc/compliance/evaluators/")
    window: str = Field("24h", pattern=r"^\d{1,4}[mhd]$", description="how far back the evidence is looked for")
    params: dict[str, Any] = Field(default_factory=dict)
    remediation: str = ""  # what to do when it fails (中文)
    source: str = ""  # the file it came from (set by the loader)


class Subject(BaseModel):
    """What a check is run on: a protected system, a zone, or the platform itself."""

    kind: Scope
    name: str
    tenant: str = ""
    mlps_level: int | None = None
    networks: list[str] = Field(default_factory=list)
    hosts: list[str] = Field(default_factory=list)
    devices: list[str] = Field(default_factory=list)  # a zone's boundary devices


class Evidence(BaseModel):
    counts: dict[str, float] = Field(default_factory=dict)
    samples: list[str] = Field(default_factory=list, description="ids of documents behind the result")
    index: str = ""
    time_from: str = ""
    time_to: str = ""
    query: dict[str, Any] | None = None
    notes: list[str] = Field(default_factory=list)


class Verdict(BaseModel):
    """What an evaluator returns; the runner adds who, when and which check."""

    status: Status
    reason: str  # 中文 (English)
    evidence: Evidence = Field(default_factory=Evidence)


class Result(BaseModel):
    run_id: str
    checked_at: str
    check_id: str
    title: str
    control: str
    control_text: str
    subject: str
    subject_kind: Scope
    tenant: str = ""
    mlps_level: int | None = None
    status: Status
    reason: str
    evidence: Evidence
