"""Stage detect: ECS events -> single-event alerts and correlation matches; windows -> alerts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from detectors.correlation import WindowAlert, close, closable, idle, observe
from detectors.registry import SUPPRESS, suppression_spec
from detectors.rules import CompiledRule, CorrelationSpec, RuleSet
from soc.model import Alert, Doc, get_path, parse_iso
from soc.stream.topics import key_partition

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


def group_values(spec: CorrelationSpec, rule_id: str, doc: Doc) -> dict[str, Any]:
    """The group-by names (fields or aliases) and this event's values for them."""
    return {name: get_path(doc, spec.field_for(name, rule_id)) for name in spec.group_by}


def detect(ruleset: RuleSet, doc: Doc, suppression: bool = False) -> tuple[list[Doc], list[tuple[bytes, Doc]]]:
    """Alerts raised by single-event rules, and (key, match) records for correlation windows.

    With suppression, a single-event rule's match also goes to a window (its spec is
    `suppress:<rule id>`, detectors/registry.py) instead of alerting at once, so the same rule
    and group key within the window make one alert with a count.
    """
    matched = ruleset.match(doc)
    if not matched:
        return [], []
    ts_ms = event_time_ms(doc)
    alerts: list[Doc] = []
    matches: list[tuple[bytes, Doc]] = []
    for rule in matched:
        if rule.generates_alerts:
            if suppression:
                spec = suppression_spec(rule, 0)
                matches.append(_match(spec, SUPPRESS + rule.meta.id, rule.meta.id, doc, ts_ms))
            else:
                alerts.append(single_alert(rule, doc, ts_ms))
        for spec in rule.correlations:
            matches.append(_match(spec, spec.meta.id, rule.meta.id, doc, ts_ms))
    return alerts, matches


def _match(spec: CorrelationSpec, spec_id: str, rule_id: str, doc: Doc, ts_ms: int) -> tuple[bytes, Doc]:
    values = group_values(spec, rule_id, doc)
    key = spec_id + "|" + "|".join(f"{k}={'' if v is None else v}" for k, v in values.items())
    ctx = event_context(doc)
    ctx.update(values)
    match = {"corr": spec_id, "group": key, "ts": ts_ms, "event_id": str(get_path(doc, "event.id", "")),
             "ctx": ctx, "rule": spec.rule_ids.index(rule_id)}
    if spec.value_field:
        match["value"] = get_path(doc, spec.field_for(spec.value_field, rule_id))
    return key.encode(), match


def bundles(groups: dict[bytes, list[Doc]], partitions: int) -> dict[int, list[Doc]]:
    """A batch's matches per group key, bundled per soc.correlate partition of the key (the one
    a message keyed by it would go to, so the one its window lives on): one message per
    partition and batch instead of one per group. Each group's matches stay in event order."""
    out: dict[int, list[Doc]] = {}
    for key, matches in groups.items():
        out.setdefault(key_partition(key, partitions), []).extend(matches)
    return out


def by_group(matches: list[Doc]) -> dict[bytes, list[Doc]]:
    """A soc.correlate message's matches per group key (each match names its group), each
    group's in the message's order. Raises ValueError for a match without one."""
    groups: dict[bytes, list[Doc]] = {}
    for match in matches:
        group = match.get("group")
        if not isinstance(group, str) or not group:
            raise ValueError(f"a match without its group key: {str(match)[:200]}")
        groups.setdefault(group.encode(), []).append(match)
    return groups


def state_bytes(state: dict[str, Any]) -> bytes:
    """A window state as the table keeps it. orjson's output keeps a 4 KiB buffer whatever the
    length (measured: 4,098 bytes held for a 65-byte state); a held copy is its own size, which
    makes 100,000 groups take megabytes, not 400 (bench/correlation.py)."""
    return bytes(memoryview(orjson.dumps(state)))


def expired(specs: dict[str, CorrelationSpec], key: str, state: dict[str, Any] | None, watermark_ms: int,
            lateness_ms: int) -> bool:
    """Whether the expiry timer has work for a group: its rule is gone, no match it holds can
    count any more given the newest event time seen (watermark) and the lateness bound, or a
    window decided at close is due (`tick` does both)."""
    if not state:
        return True
    spec = specs.get(key.split("|", 1)[0])
    if spec is None:
        return True
    span = spec.timespan_s * 1000
    return idle(state, watermark_ms, span, lateness_ms) or (
        spec.condition.at_close and closable(state, watermark_ms, span, lateness_ms))


def tick(specs: dict[str, CorrelationSpec], key: str, state: dict[str, Any] | None, watermark_ms: int,
         lateness_ms: int) -> tuple[list[Doc], bool]:
    """The expiry timer's visit to a group: alerts of windows decided at close that event time
    has passed, and whether the group can now be forgotten."""
    spec = specs.get(key.split("|", 1)[0])
    if not state or spec is None:
        return [], True
    span = spec.timespan_s * 1000
    alerts = [_alert(spec, w, state["g"], state.get("x", {}))
              for w in close(state, watermark_ms, span, spec.condition, lateness_ms)] \
        if spec.condition.at_close and "g" in state else []
    return alerts, idle(state, watermark_ms, span, lateness_ms)


def correlate(
    specs: dict[str, CorrelationSpec], state: dict[str, Any] | None, match: Doc, lateness_ms: int
) -> tuple[dict[str, Any] | None, list[Doc], bool]:
    """Feed one match into its group's window: (new state, alert documents, late?)."""
    spec = specs.get(match["corr"])
    if spec is None:
        return state, [], False  # the rule was removed since the match was produced
    span = spec.timespan_s * 1000
    new_state, window, late = observe(
        state, int(match["ts"]), match["event_id"], span, spec.condition, lateness_ms,
        rule=int(match.get("rule", 0)), value=match.get("value"),
    )
    ctx = {k: v for k, v in match["ctx"].items() if "." not in k}
    if spec.condition.at_close:
        # Decided when a window closes: keep what its alert will carry; the group's own newest
        # match is event time enough to close the windows before it.
        new_state["g"], new_state["x"] = match["group"], ctx
        newest = new_state["w"][-1][0] if new_state["w"] else int(match["ts"])
        return new_state, [_alert(spec, w, match["group"], ctx)
                           for w in close(new_state, newest, span, spec.condition, lateness_ms)], late
    return new_state, [] if window is None else [_alert(spec, window, match["group"], ctx)], late


def correlate_all(
    specs: dict[str, CorrelationSpec], state: dict[str, Any] | None, matches: list[Doc], lateness_ms: int
) -> tuple[dict[str, Any] | None, list[Doc], int]:
    """Feed a group's matches into its window in order, as `correlate` one after another would:
    (the state after the last, the alert documents, how many came late). Of the revisions of an
    alert within the batch only two are kept: its first revision (the one respond acts on) and
    its latest (the one the index keeps); those in between would be overwritten at once. A busy
    group (one suppression window per rule and source) thus costs one alert message per batch,
    not one per matching event."""
    alerts: list[Doc] = []
    late = 0
    for match in matches:
        new_state, found, was_late = correlate(specs, state, match, lateness_ms)
        if new_state is not None:
            state = new_state
        alerts += found
        late += was_late
    if len(alerts) > 1:
        last = {str(a["soc"]["alert"]["id"]): n for n, a in enumerate(alerts)}
        alerts = [a for n, a in enumerate(alerts)
                  if a["soc"]["alert"].get("revision", 1) == 1 or last[str(a["soc"]["alert"]["id"])] == n]
    return state, alerts, late


def _alert(spec: CorrelationSpec, window: WindowAlert, group_key: str, ctx: Doc) -> Doc:
    alert = Alert(
        rule_id=spec.meta.id,
        rule_name=spec.meta.title,
        level=spec.meta.level,
        group_key=group_key,
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
    return doc


@dataclass(slots=True)
class Hit:
    """A rule that matched, offline: a single event (its index) or a correlation's final window."""

    rule: CompiledRule | CorrelationSpec
    indexes: list[int]  # 0-based positions of the events behind it, in input order
    group: dict[str, Any] = field(default_factory=dict)
    alert: Doc | None = None


def evaluate(ruleset: RuleSet, docs: list[Doc]) -> list[Hit]:
    """Run detection over events in order, without Kafka: what the stream would raise.

    Single-event hits come per event (also for rules that only feed a correlation); a
    correlation gives one hit per alert, at its last revision. Windows use the events' own
    timestamps with no lateness bound, so the input need not be sorted.
    """
    specs = {c.meta.id: c for c in ruleset.correlations}
    index_of: dict[str, int] = {}
    states: dict[str, dict[str, Any] | None] = {}
    groups: dict[str, dict[str, Any]] = {}
    hits: list[Hit] = []
    final: dict[str, Hit] = {}
    for i, doc in enumerate(docs):
        eid = str(get_path(doc, "event.id", "") or f"line-{i}")
        doc = doc if get_path(doc, "event.id") else {**doc, "event": {**doc.get("event", {}), "id": eid}}
        index_of.setdefault(eid, i)
        for rule in ruleset.match(doc):
            hits.append(Hit(rule, [i]))
        _, matches = detect(ruleset, doc)
        for key, match in matches:
            k = key.decode()
            states[k], alerts, _ = correlate(specs, states.get(k), match, lateness_ms=1 << 62)
            groups[k] = {f: match["ctx"].get(f) for f in specs[match["corr"]].group_by}
            for alert in alerts:
                final[alert["event"]["id"]] = _hit(specs, k, groups[k], alert, index_of)
    # The end of the input closes every window still open.
    for k, state in states.items():
        for alert in tick(specs, k, state, 1 << 62, 0)[0]:
            final[alert["event"]["id"]] = _hit(specs, k, groups[k], alert, index_of)
    return hits + list(final.values())


def _hit(specs: dict[str, CorrelationSpec], key: str, group: dict[str, Any], alert: Doc,
         index_of: dict[str, int]) -> Hit:
    ids = alert["soc"]["alert"]["event_ids"]
    return Hit(specs[key.split("|", 1)[0]], sorted(index_of[e] for e in ids if e in index_of), group, alert)
