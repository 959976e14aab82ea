"""Evidence that logs are kept at least six months and that nothing keeps them less (MLPS 2.0
8.1.5.4 d, with 8.1.3.5 c / 8.1.4.3 c; 网络安全法 第二十三条, Art. 21 before the 2026 amendment).

Four things, each named when it fails:
- the policy: every in-scope family is kept at least the floor (soc/config.py RetentionSettings);
- the guard: a setting below the floor is refused (tried here, on a fresh settings object);
- on a cluster with ILM, the events policy does not delete sooner than the floor;
- the indices: every day from the platform's start, or from `floor` days back when it has run
  longer, up to yesterday has its events index. The start is the oldest events index, or earlier
  the creation of the first index that shows logs flowing (events, alerts, dead letters): when the
  oldest events index is younger than the floor while the platform has run longer, the days in
  between are missing and named, as is any single day missing inside the window.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time

from pydantic import ValidationError

from soc.compliance.engine import Context, evaluator
from soc.compliance.model import CheckDef, Evidence, Subject, Verdict
from soc.config import RETENTION_FLOOR_DAYS, RETENTION_IN_SCOPE, RetentionSettings
from soc.model import iso
from soc.store.retention import (RUNNING_EVIDENCE, coverage, day_ranges, family_days, list_indices, parse_day,
                                 probe_ilm)

AGE = re.compile(r"^(\d+)(d|h|m|s|ms|micros|nanos)$")
UNIT_S = {"d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 1e-3, "micros": 1e-6, "nanos": 1e-9}


def _floor_enforced() -> bool:
    """True when a policy below the floor is refused (what keeps anyone from lowering it)."""
    try:
        RetentionSettings(policies={"events": RETENTION_FLOOR_DAYS - 1})
    except ValidationError:
        return True
    return False


@evaluator("log_retention")
async def log_retention(ctx: Context, check: CheckDef, subject: Subject) -> Verdict:
    """Pass when the policy keeps in-scope logs at least `min_days` (never less than 180), a
    lower setting is refused, and no events day is missing within the kept window."""
    s, prefix = ctx.settings, ctx.prefix
    floor = max(RETENTION_FLOOR_DAYS, int(check.params.get("min_days", RETENTION_FLOOR_DAYS)))
    today = ctx.now.astimezone(UTC).date()
    zh: list[str] = []
    en: list[str] = []
    notes: list[str] = []
    counts: dict[str, float] = {"floor_days": floor}

    policy = {family: family_days(s, family)[0] for family in s.retention.policies}
    counts |= {f"policy.{family}": days for family, days in policy.items()}
    notes.append("policy: " + ", ".join(f"{f} {d} d" for f, d in policy.items())
                 + "".join(f"; dataset {g} {d} d" for g, d in s.retention.datasets.items()))
    short = [f"{f} {policy.get(f, 0)} 天" for f in RETENTION_IN_SCOPE if policy.get(f, 0) < floor]
    if short:
        zh.append(f"保留策略低于 {floor} 天：{'、'.join(short)}")
        en.append(f"the policy keeps {', '.join(short).replace(' 天', ' days')}, below {floor} days")
    if not _floor_enforced():
        zh.append(f"低于 {RETENTION_FLOOR_DAYS} 天的保留配置未被拒绝")
        en.append(f"a retention setting below {RETENTION_FLOOR_DAYS} days is not refused")

    ilm = await probe_ilm(ctx.es)
    notes.append(f"ILM: {ilm.detail}" if ilm.available else f"ILM: not available ({ilm.detail}); "
                 "expired indices are deleted by the worker's retention job")
    if ilm.available:  # only on clusters with ILM (docs/retention.md)
        name = f"{prefix}-events-retention"
        res = await ctx.es.options(ignore_status=404).ilm.get_lifecycle(name=name)
        if res.meta.status == 200:
            min_age = str(res.body[name]["policy"]["phases"].get("delete", {}).get("min_age", ""))
            m = AGE.match(min_age)
            notes.append(f"ILM policy {name}: delete at min_age {min_age or '(no delete phase)'}")
            if m is not None and int(m.group(1)) * UNIT_S[m.group(2)] < (floor + 1) * 86400:
                zh.append(f"ILM 策略 {name} 在 {min_age} 后删除，早于 {floor} 天")
                en.append(f"ILM policy {name} deletes at {min_age}, sooner than {floor} days")

    indices = await list_indices(ctx.es, prefix, RUNNING_EVIDENCE)
    dated = {p[1]: i.name for i in indices if (p := parse_day(prefix, i.name)) and p[0] == "events"}
    created = [i for i in indices if i.created is not None]
    first = min(created, key=lambda i: i.created or datetime.max.replace(tzinfo=UTC)) if created else None
    running_since = first.created.date() if first is not None and first.created is not None else None
    cov = coverage(dated, running_since, today, floor)
    counts |= {"events_indices": len(dated), "missing_days": len(cov.missing)}
    if cov.oldest is not None and cov.newest is not None:
        counts |= {"oldest_age_days": (today - cov.oldest).days, "newest_age_days": (today - cov.newest).days}
        notes.append(f"oldest events index {dated[cov.oldest]} ({(today - cov.oldest).days} days old), "
                     f"newest {dated[cov.newest]}")
    if first is not None and running_since is not None:
        counts["running_days"] = (today - running_since).days
        notes.append(f"running since {running_since:%Y-%m-%d} (creation of {first.name})")
    if cov.missing:
        ranges = day_ranges(cov.missing)
        shown = "、".join(ranges[:10]) + (f" 等 {len(ranges)} 段" if len(ranges) > 10 else "")
        notes.append("missing: " + ", ".join(ranges))
        zh.append(f"保留期内缺少 {len(cov.missing)} 天的事件索引（被提前删除或未入库）：{shown}")
        en.append(f"{len(cov.missing)} days within the kept window have no events index (deleted early or never "
                  f"indexed): {', '.join(ranges[:10])}{' …' if len(ranges) > 10 else ''}")

    window_from = cov.window_start or today
    evidence = Evidence(index=ctx.events, time_from=iso(datetime.combine(window_from, time(), UTC)),
                        time_to=iso(ctx.now), counts=counts, notes=notes)
    if zh:
        return Verdict(status="fail", evidence=evidence, reason="；".join(zh) + f" ({'; '.join(en)})")
    if cov.oldest is None and running_since is None:
        return Verdict(status="not_applicable", evidence=evidence,
                       reason=f"尚无事件索引，保留策略符合 {floor} 天要求 "
                              f"(no events indices yet; the policy keeps in-scope logs at least {floor} days)")
    assert cov.window_start is not None
    age = (today - cov.window_start).days
    if age >= floor:
        kept = f"已连续保留最近 {floor} 天的事件日志 (every day of the last {floor} days is kept)"
    else:
        kept = (f"平台运行 {age} 天，不足 {floor} 天，运行以来每天的事件日志均在 "
                f"(the platform has run {age} days, less than {floor}; every day since is kept)")
    return Verdict(status="pass", evidence=evidence,
                   reason=f"保留策略不低于 {floor} 天且不可调低；{kept} "
                          f"(in-scope logs kept at least {floor} days, a lower setting is refused)")
