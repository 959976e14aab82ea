"""Log retention: what is kept, what is deleted, and why (docs/retention.md).

The policy (`retention.policies`, soc/config.py) gives days per index family; in-scope families
(events, dead letters, the audit trail, alerts, actions, incidents) are never below 180 days
(Cybersecurity Law Art. 23, Art. 21 before the 2026 amendment; MLPS 2.0 8.1.5.4 d).

Only *dated* indices, `<prefix>-<family>-YYYY.MM.DD` (a UTC day), are ever deleted, and only
whole: today the daily events indices. A dated index of day D is expired when
`(today - D).days > days`: its newest event (D 23:59:59) is then older than `days` days. Single
indices (`<prefix>-alerts`, `<prefix>-audit`, ...), indices whose name has no valid date and
names of no known family are kept, each with its reason.

`plan` is pure (names and a date in, decisions out). `apply` reads the real index names, then
either (a cluster with ILM: `GET _ilm/status` answers 200) puts an ILM policy with a delete
phase on the events family and attaches it, or (no ILM, like the local integ-test node) deletes
the expired indices itself; every deletion is a record of the platform's audit trail.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from elasticsearch import ApiError, AsyncElasticsearch, NotFoundError

from soc.audit import AuditTrail
from soc.config import RETENTION_FLOOR_DAYS, RETENTION_IN_SCOPE, Settings
from soc.store.templates import index_templates

ACTOR = "retention"
DAY = re.compile(r"^(?P<family>[a-z]+)-(?P<day>\d{4}\.\d{2}\.\d{2})$")
# Families with log flow behind them: their indices' creation dates say since when the platform runs.
RUNNING_EVIDENCE = ("events", "alerts", "deadletter")


# ---------------------------------------------------------------------------- the policy


def family_days(settings: Settings, family: str) -> tuple[int, str]:
    """Days a family's dated indices are kept, and why when it is not simply its policy.

    Never below the floor for an in-scope family, whatever the settings object holds (a copy
    made without validation cannot shorten retention). The events family is kept as long as its
    longest dataset rule, since a daily index mixes every dataset and is deleted whole."""
    r = settings.retention
    days = r.policies.get(family, 0)
    why = ""
    if family == "events" and r.datasets:
        glob, longest = max(r.datasets.items(), key=lambda kv: kv[1])
        if longest > days:
            days, why = longest, f"dataset rule {glob!r} keeps {longest} days"
    if family in RETENTION_IN_SCOPE and days < RETENTION_FLOOR_DAYS:
        days, why = RETENTION_FLOOR_DAYS, f"the {RETENTION_FLOOR_DAYS}-day floor for in-scope logs"
    return days, why


def parse_day(prefix: str, name: str) -> tuple[str, date] | None:
    """(family, UTC day) of `<prefix>-<family>-YYYY.MM.DD`; None for any other name."""
    if not name.startswith(f"{prefix}-"):
        return None
    m = DAY.match(name[len(prefix) + 1:])
    if not m:
        return None
    try:
        return m.group("family"), datetime.strptime(m.group("day"), "%Y.%m.%d").date()
    except ValueError:  # 2026.02.30
        return None


@dataclass(frozen=True)
class Decision:
    index: str
    action: Literal["delete", "keep"]
    reason: str
    family: str | None = None
    day: date | None = None
    age_days: int | None = None
    keep_days: int | None = None


@dataclass
class Plan:
    today: date
    decisions: list[Decision]

    @property
    def delete(self) -> list[Decision]:
        return [d for d in self.decisions if d.action == "delete"]

    @property
    def keep(self) -> list[Decision]:
        return [d for d in self.decisions if d.action == "keep"]


def _family_of(prefix: str, name: str, families: Iterable[str]) -> str | None:
    for family in families:
        if name == f"{prefix}-{family}" or name.startswith(f"{prefix}-{family}-"):
            return family
    return None


def plan(settings: Settings, index_names: Iterable[str], today: date) -> Plan:
    """Which of these indices to delete and which to keep, each with its reason (pure)."""
    prefix = settings.elastic.index_prefix
    families = settings.retention.policies
    decisions: list[Decision] = []
    for name in sorted(set(index_names)):
        parsed = parse_day(prefix, name)
        if parsed is None or parsed[0] not in families:
            family = _family_of(prefix, name, families)
            reason = ("no retention family: never deleted" if family is None
                      else "not dated (single index): never deleted")
            decisions.append(Decision(name, "keep", reason, family))
            continue
        family, day = parsed
        age = (today - day).days
        days, why = family_days(settings, family)
        why = f", {why}" if why else ""
        if age < 0:
            decisions.append(Decision(name, "keep", f"dated {-age} days in the future", family, day, age, days))
        elif age > days:
            decisions.append(Decision(name, "delete", f"expired: {age} days old > {days} days kept{why}",
                                      family, day, age, days))
        else:
            decisions.append(Decision(name, "keep", f"in window: {age} of {days} days{why}", family, day, age, days))
    decisions.sort(key=lambda d: (d.family or "~", d.day or date.min, d.index))
    return Plan(today, decisions)


# ---------------------------------------------------------------------------- coverage (compliance)


@dataclass
class Coverage:
    """Which days of the events family must be present, and which are not."""

    oldest: date | None
    newest: date | None
    running_since: date | None
    window_start: date | None  # first day that must be present
    missing: list[date]


def coverage(days_present: Iterable[date], running_since: date | None, today: date,
             floor: int = RETENTION_FLOOR_DAYS) -> Coverage:
    """Every day from the platform's start (or `floor` days back, whichever is later) up to
    yesterday must have its events index. The start is the oldest events index or, earlier, the
    oldest index creation that shows logs flowing; today's index may not exist yet."""
    present = {d for d in days_present if d <= today}
    oldest, newest = (min(present), max(present)) if present else (None, None)
    starts = [d for d in (oldest, running_since) if d is not None]
    if not starts:
        return Coverage(None, None, running_since, None, [])
    window_start = max(min(starts), today - timedelta(days=floor))
    missing = [window_start + timedelta(days=n) for n in range((today - window_start).days)
               if window_start + timedelta(days=n) not in present]
    return Coverage(oldest, newest, running_since, window_start, missing)


def day_ranges(days: list[date]) -> list[str]:
    """Consecutive days folded: ['2026.06.01–2026.06.10 (10 days)', '2026.07.04']."""
    out: list[str] = []
    run: list[date] = []
    for d in sorted(days):
        if run and (d - run[-1]).days != 1:
            out.append(_fold(run))
            run = []
        run.append(d)
    if run:
        out.append(_fold(run))
    return out


def _fold(run: list[date]) -> str:
    if len(run) == 1:
        return f"{run[0]:%Y.%m.%d}"
    return f"{run[0]:%Y.%m.%d}–{run[-1]:%Y.%m.%d} ({len(run)} days)"


# ---------------------------------------------------------------------------- the cluster


@dataclass
class IlmProbe:
    available: bool
    status: int | None
    detail: str  # ILM's operation mode, or what the probe got


async def probe_ilm(es: AsyncElasticsearch) -> IlmProbe:
    """ILM where `GET _ilm/status` answers 200 (the integ-test node answers 405)."""
    try:
        res = await es.ilm.get_status()
    except ApiError as exc:
        body = exc.body.get("error") if isinstance(exc.body, dict) else exc.body
        return IlmProbe(False, exc.meta.status, f"GET _ilm/status → {exc.meta.status}: {body}")
    return IlmProbe(True, 200, f"operation_mode {res.get('operation_mode', '?')}")


@dataclass
class IndexInfo:
    name: str
    status: str  # open / close
    docs: int | None
    created: datetime | None


async def list_indices(es: AsyncElasticsearch, prefix: str, families: Iterable[str]) -> list[IndexInfo]:
    """The real indices of these families (`<prefix>-<family>*`, open and closed)."""
    patterns = ",".join(f"{prefix}-{f}*" for f in families)
    rows = await es.cat.indices(index=patterns, format="json", h="index,status,docs.count,creation.date",
                                expand_wildcards="open,closed")
    out = []
    for row in rows.body:
        created = row.get("creation.date")
        out.append(IndexInfo(
            name=row["index"], status=row.get("status") or "", docs=int(row["docs.count"]) if row.get("docs.count") else None,
            created=datetime.fromtimestamp(int(created) / 1000, UTC) if created else None))
    return sorted(out, key=lambda i: i.name)


@dataclass
class Report:
    today: date
    ilm: IlmProbe
    plan: Plan
    indices: list[IndexInfo]
    dry_run: bool
    deleted: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    ilm_policy: str | None = None  # the policy put and attached (clusters with ILM)

    def summary(self) -> list[str]:
        lines = [f"retention {'(dry run) ' if self.dry_run else ''}on {self.today:%Y-%m-%d}: "
                 f"{len(self.indices)} indices, {len(self.plan.delete)} expired, {len(self.plan.keep)} kept"]
        if self.ilm.available:
            lines.append(f"ILM {self.ilm.detail}: expired indices are deleted by ILM policy "
                         f"{self.ilm_policy or '(not put in a dry run)'}")
        for name in self.deleted:
            lines.append(f"deleted {name}")
        for name, error in self.failed:
            lines.append(f"could not delete {name}: {error}")
        return lines


async def apply(es: AsyncElasticsearch, settings: Settings, now: datetime, dry_run: bool = False) -> Report:
    """Apply the policy once: ILM put and attached where the cluster has it, else the expired
    dated indices deleted (each recorded in the audit trail). A dry run only reports."""
    prefix = settings.elastic.index_prefix
    today = now.astimezone(UTC).date()
    ilm = await probe_ilm(es)
    indices = await list_indices(es, prefix, settings.retention.policies)
    report = Report(today, ilm, plan(settings, [i.name for i in indices], today), indices, dry_run)
    if dry_run:
        return report
    trail = AuditTrail(es, prefix)
    if ilm.available:
        report.ilm_policy = await _attach_ilm(es, settings, report, trail)
        return report
    for d in report.plan.delete:
        assert d.age_days is not None and d.keep_days is not None and d.age_days > d.keep_days, d
        details: dict[str, Any] = {"family": d.family, "day": f"{d.day:%Y-%m-%d}", "age_days": d.age_days,
                                   "keep_days": d.keep_days, "reason": d.reason}
        try:
            await es.indices.delete(index=d.index)  # the exact name, never a pattern
        except NotFoundError:
            continue  # deleted meanwhile (another run): nothing was done here
        except ApiError as exc:
            report.failed.append((d.index, str(exc)))
            await trail.append(ACTOR, "retention.delete_index", "failure", target=d.index,
                               details=details | {"error": str(exc)})
            continue
        report.deleted.append(d.index)
        await trail.append(ACTOR, "retention.delete_index", "success", target=d.index, details=details)
    return report


# Exercised only against clusters with ILM: the local integ-test node has none (docs/retention.md).
async def _attach_ilm(es: AsyncElasticsearch, settings: Settings, report: Report, trail: AuditTrail) -> str:
    """Put `<prefix>-events-retention` (delete when the index's day is more than `days` old, the
    day parsed from its name) and attach it to the events template and every dated events index."""
    prefix = settings.elastic.index_prefix
    days, _ = family_days(settings, "events")
    name = f"{prefix}-events-retention"
    min_age = f"{days + 1}d"
    current = await es.options(ignore_status=404).ilm.get_lifecycle(name=name)
    changed = current.meta.status == 404 or (
        current.body.get(name, {}).get("policy", {}).get("phases", {}).get("delete", {}).get("min_age") != min_age)
    await es.ilm.put_lifecycle(name=name, policy={"_meta": {"managed_by": "soc"},
                                                  "phases": {"delete": {"min_age": min_age, "actions": {"delete": {}}}}})
    lifecycle = {"index.lifecycle.name": name, "index.lifecycle.parse_origination_date": True}
    template = index_templates(prefix, settings.elastic.shards, settings.elastic.replicas)[f"{prefix}-events"]
    template["template"]["settings"].update(lifecycle)
    await es.indices.put_index_template(name=f"{prefix}-events", **template)
    dated = [i.name for i in report.indices if i.status == "open" and (p := parse_day(prefix, i.name)) and p[0] == "events"]
    for start in range(0, len(dated), 50):
        await es.indices.put_settings(index=",".join(dated[start:start + 50]), settings=lifecycle)
    if changed:
        await trail.append(ACTOR, "retention.ilm_policy", "success", target=name,
                           details={"delete_min_age": min_age, "indices": len(dated)})
    return name
