"""Stage detect: ECS events -> single-event alerts and correlation matches; windows -> alerts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from detectors.correlation import observe
from detectors.rules import CompiledRule, CorrelationSpec, RuleSet
from soc.model import Alert, Doc, get_path, parse_iso

# The parts of an event an alert carries, so analysts see who, what and where at a glance.
CONTEXT_KEYS = ("source", "destination", "host", "user", "observer", "labels", "network", "url", "http", "process")


def event_context(doc: Doc) -> Doc:
    ctx = {k: doc[k] for k in CONTEXT_KEYS if k in doc}
    asset = get_path(doc, "soc.asset")
    if asset:
        ctx["soc"] = {"asset": asset}
    return ctx


def event_time_ms(doc: Doc) -> int:
    try:
        return int(parse_iso(doc["@timestamp"]).timestamp() * 1000)
    except (KeyError, TypeError, ValueError):
        return int(datetime.now(UTC).timestamp() * 1000)


def _ms(ts_ms: int) -> datetime:
    return datetime.fromtimestamp(ts_ms / 1000, UTC)


def single_alert(rule: CompiledRule, doc: Doc, ts_ms: int) -> Doc:
    eid = str(get_path(doc, "event.id", ""))
    src = get_path(doc, "source.ip")
    alert = Alert(
        rule_id=rule.meta.id,
        rule_name=rule.meta.title,
        level=rule.meta.level,
        group_key=f"{rule.meta.id}|source.ip={src}" if src else rule.meta.id,
        first_seen=_ms(ts_ms),
        last_seen=_ms(ts_ms),
        event_ids=[eid],
        count=1,
        tags=rule.meta.tags,
        description=rule.meta.description,
        context=event_context(doc),
        window_start_id=eid,
    )
    out = alert.to_doc()
    out["soc"]["alert"]["revision"] = 1
    return out


def group_key(spec: CorrelationSpec, doc: Doc) -> str:
    values = "|".join(f"{f}={get_path(doc, f, '')}" for f in spec.group_by)
    return f"{spec.meta.id}|{values}"


def detect(ruleset: RuleSet, doc: Doc) -> tuple[list[Doc], list[tuple[bytes, Doc]]]:
    """Alerts raised by single-event rules, and (key, match) records for correlation windows."""
    matched = ruleset.match(doc)
    if not matched:
        return [], []
    ts_ms = event_time_ms(doc)
    alerts = [single_alert(rule, doc, ts_ms) for rule in matched if rule.generates_alerts]
    matches: list[tuple[bytes, Doc]] = []
    for rule in matched:
        for spec in rule.correlations:
            key = group_key(spec, doc)
            ctx = event_context(doc)
            for f in spec.group_by:
                ctx[f] = get_path(doc, f)
            matches.append(
                (key.encode(), {"corr": spec.meta.id, "group": key, "ts": ts_ms,
                                "event_id": str(get_path(doc, "event.id", "")), "ctx": ctx})
            )
    return alerts, matches


def correlate(
    specs: dict[str, CorrelationSpec], state: dict[str, Any] | None, match: Doc, lateness_ms: int
) -> tuple[dict[str, Any] | None, Doc | None, bool]:
    """Feed one match into its group's window: (new state, alert document or None, late?)."""
    spec = specs.get(match["corr"])
    if spec is None:
        return state, None, False  # the rule was removed since the match was produced
    new_state, window, late = observe(
        state, int(match["ts"]), match["event_id"], spec.timespan_s * 1000, spec.threshold, lateness_ms
    )
    if window is None:
        return new_state, None, late
    ctx = {k: v for k, v in match["ctx"].items() if "." not in k}
    alert = Alert(
        rule_id=spec.meta.id,
        rule_name=spec.meta.title,
        level=spec.meta.level,
        group_key=match["group"],
        first_seen=_ms(window.first_ms),
        last_seen=_ms(window.last_ms),
        event_ids=window.event_ids,
        count=window.count,
        tags=spec.meta.tags,
        description=spec.meta.description,
        correlation_type=spec.type,
        context=ctx,
        window_start_id=window.anchor,
    )
    doc = alert.to_doc()
    doc["soc"]["alert"]["revision"] = window.revision
    return new_state, doc, late
