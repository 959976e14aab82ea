"""Index templates with ECS mappings for events, alerts, actions and dead letters.

Only features present on both the local integ-test node and a full cluster are used:
composable index templates and plain (daily) indices; no ILM, no data streams, no
match_only_text, no wildcard (docs/elasticsearch-distribution.md).

Field types are chosen deliberately:
- addresses are `ip`, so CIDR queries work (source.ip: "10.0.0.0/8");
- timestamps are `date`; counts, ports, bytes and pids are `long`;
- identifiers, names and enumerations are `keyword` (exact match, aggregations);
- free text that analysts search by words is `text`: message, error.message, rule.description;
  names that need both get a `.text` sub-field (user_agent.original, url.original);
- event.original is kept in _source, and indexed only lowercased (`.ci`) and up to 8,000
  characters, so unbound Sigma keywords can be hunted and a 1 MB line never hits the 32 KB term limit;
- every string field has a lowercased `.ci` sub-field, for Sigma's case-insensitive matching;
- unknown string fields become `keyword` with ignore_above 1024, so vendor extras are searchable
  but cannot break indexing.
"""

from __future__ import annotations

from typing import Any

# Every string field has a lowercased sub-field, `<field>.ci`: Sigma compares strings
# case-insensitively, Elasticsearch keyword fields do not; retro-hunts search `.ci`
# (soc/store/lucene.py). No doc values: it is searched, never aggregated. A long value is left
# out of it (ignore_above, in characters: 8,000 keeps any UTF-8 text under Lucene's 32 KB term).
CASE_FOLDED = "ci"
LONG_VALUE = 8000


def _folded(limit: int) -> dict[str, Any]:
    return {CASE_FOLDED: {"type": "keyword", "normalizer": "lowercase", "doc_values": False, "ignore_above": limit}}


KEYWORD = {"type": "keyword", "ignore_above": 1024, "fields": _folded(1024)}
TEXT = {"type": "text", "fields": _folded(LONG_VALUE)}
IP = {"type": "ip"}
DATE = {"type": "date"}
LONG = {"type": "long"}
FLOAT = {"type": "float"}
BOOL = {"type": "boolean"}
STORED_ONLY = {"type": "keyword", "index": False, "doc_values": False}
ORIGINAL = STORED_ONLY | {"fields": _folded(LONG_VALUE)}
KEYWORD_WITH_TEXT = {"type": "keyword", "ignore_above": 8192,
                     "fields": {"text": {"type": "text"}} | _folded(LONG_VALUE)}

COMMON_FIELDS: dict[str, dict[str, Any]] = {
    "@timestamp": DATE,
    "message": TEXT,
    "tags": KEYWORD,
    "ecs.version": KEYWORD,
    "event.id": KEYWORD,
    "event.kind": KEYWORD,
    "event.category": KEYWORD,
    "event.type": KEYWORD,
    "event.action": KEYWORD,
    "event.outcome": KEYWORD,
    "event.dataset": KEYWORD,
    "event.module": KEYWORD,
    "event.provider": KEYWORD,
    "event.code": KEYWORD,
    "event.severity": LONG,
    "event.risk_score": FLOAT,
    "event.original": ORIGINAL,
    "event.created": DATE,
    "event.ingested": DATE,
    "event.start": DATE,
    "event.end": DATE,
    "event.duration": LONG,
    "event.timezone": KEYWORD,
    "observer.name": KEYWORD,
    "observer.hostname": KEYWORD,
    "observer.ip": IP,
    "observer.vendor": KEYWORD,
    "observer.product": KEYWORD,
    "observer.type": KEYWORD,
    "source.ip": IP,
    "source.port": LONG,
    "source.address": KEYWORD,
    "source.domain": KEYWORD,
    "source.bytes": LONG,
    "source.packets": LONG,
    "source.nat.ip": IP,
    "source.nat.port": LONG,
    "destination.ip": IP,
    "destination.port": LONG,
    "destination.address": KEYWORD,
    "destination.domain": KEYWORD,
    "destination.bytes": LONG,
    "destination.packets": LONG,
    "destination.nat.ip": IP,
    "destination.nat.port": LONG,
    "network.transport": KEYWORD,
    "network.protocol": KEYWORD,
    "network.direction": KEYWORD,
    "network.bytes": LONG,
    "network.packets": LONG,
    "network.community_id": KEYWORD,
    "url.original": KEYWORD_WITH_TEXT,
    "url.domain": KEYWORD,
    "url.path": KEYWORD,
    "url.query": KEYWORD,
    "http.request.method": KEYWORD,
    "http.request.body.content": TEXT,
    "http.response.status_code": LONG,
    "http.response.body.bytes": LONG,
    "user_agent.original": KEYWORD_WITH_TEXT,
    "user.name": KEYWORD,
    "user.id": KEYWORD,
    "user.domain": KEYWORD,
    "host.name": KEYWORD,
    "host.hostname": KEYWORD,
    "host.ip": IP,
    "host.os.type": KEYWORD,
    "process.name": KEYWORD,
    "process.pid": LONG,
    "process.executable": KEYWORD,
    "process.command_line": KEYWORD_WITH_TEXT,
    "rule.id": KEYWORD,
    "rule.name": KEYWORD,
    "rule.description": TEXT,
    "rule.category": KEYWORD,
    "rule.ruleset": KEYWORD,
    "threat.framework": KEYWORD,
    "threat.technique.id": KEYWORD,
    "threat.technique.subtechnique.id": KEYWORD,
    "threat.tactic.name": KEYWORD,
    "related.ip": IP,
    "related.user": KEYWORD,
    "related.hosts": KEYWORD,
    "error.message": TEXT,
    "error.type": KEYWORD,
    "log.level": KEYWORD,
    "log.syslog.priority": LONG,
    "log.syslog.facility.code": LONG,
    "log.syslog.facility.name": KEYWORD,
    "log.syslog.severity.code": LONG,
    "log.syslog.severity.name": KEYWORD,
    "log.syslog.appname": KEYWORD,
    "log.syslog.msgid": KEYWORD,
    "log.syslog.version": KEYWORD,
    "labels.tenant": KEYWORD,
    "soc.source_id": KEYWORD,
    "soc.collector": KEYWORD,
    "soc.received": DATE,
    "soc.asset.name": KEYWORD,
    "soc.asset.owner": KEYWORD,
    "soc.asset.mlps_level": LONG,
    "soc.asset.criticality": KEYWORD,
    "soc.asset.cii": BOOL,
    # Fields the parsers emit beyond the ones above that the rule library searches: mapped, so a
    # hunt compares them case-insensitively like the stream (a unit test keeps this list whole).
    "event.severity_name": KEYWORD,
    "soc.severity": KEYWORD,  # normalized: informational, low, medium, high, critical (the Sigma levels)
    "process.title": KEYWORD_WITH_TEXT,
    "vulnerability.id": KEYWORD,
    "tcp.flags": KEYWORD,
    "user.effective.name": KEYWORD,
    "group.name": KEYWORD,
    "http.request.referrer": KEYWORD,
    "soc.device.log_type": KEYWORD,
    "soc.device.risk_name": KEYWORD,
    "winlog.provider_name": KEYWORD,
    "winlog.logon.type": KEYWORD,
    **{f"winlog.event_data.{name}": KEYWORD for name in (
        "AuditPolicyChanges", "LogonProcessName", "TargetUserName", "TargetSid", "SubjectUserName")},
    **{f"auditd.log.{name}": KEYWORD for name in (
        "record_type", "name", "nametype", "key", "unit", "audit_enabled", "a0", "a1", "a2", "a3")},
    "auditd.log.data": KEYWORD_WITH_TEXT,
    # ECS fields SigmaHQ's rules search after our pipelines (bench/sigma_parity.py --sigmahq).
    **{name: KEYWORD for name in (
        "file.path", "file.name", "file.directory", "file.extension", "registry.path", "registry.key",
        "registry.value", "process.parent.executable", "process.parent.name", "process.working_directory",
        "dns.question.name", "service.name", "threat.software.name", "user.target.name", "url.extension",
        "soc.device.cfgpath")},
    "process.parent.command_line": KEYWORD_WITH_TEXT,
    "powershell.file.script_block_text": KEYWORD_WITH_TEXT,
}

ALERT_FIELDS: dict[str, dict[str, Any]] = {
    "soc.alert.id": KEYWORD,
    "soc.alert.status": KEYWORD,
    "soc.alert.severity": KEYWORD,
    "soc.alert.assignee": KEYWORD,
    "soc.alert.status_reason": TEXT,
    "soc.alert.updated_by": KEYWORD,
    "soc.alert.updated": DATE,
    "soc.alert.group_key": KEYWORD,
    "soc.alert.count": LONG,
    "soc.alert.revision": LONG,
    "soc.alert.first_seen": DATE,
    "soc.alert.last_seen": DATE,
    "soc.alert.event_ids": KEYWORD,
}

ACTION_FIELDS: dict[str, dict[str, Any]] = {
    "soc.action.id": KEYWORD,
    "soc.action.playbook": KEYWORD,
    "soc.action.alert_id": KEYWORD,
    "soc.action.kind": KEYWORD,
    "soc.action.target": KEYWORD,
    "soc.action.state": KEYWORD,
    "soc.action.decided_by": KEYWORD,
    "soc.action.reason": TEXT,
    "soc.action.simulated": BOOL,
    "soc.action.ttl_seconds": LONG,
    "soc.action.step": LONG,
    "soc.action.device": KEYWORD,
    "soc.action.block_id": KEYWORD,
    "soc.action.expires_at": DATE,
}

DEADLETTER_FIELDS: dict[str, dict[str, Any]] = {
    "@timestamp": DATE,
    "soc.deadletter.stage": KEYWORD,
    "soc.deadletter.reason": KEYWORD,
    "soc.deadletter.error": TEXT,
    "soc.deadletter.topic": KEYWORD,
    "soc.deadletter.source_id": KEYWORD,
    "soc.deadletter.received": DATE,
    "soc.deadletter.original_base64": {"type": "binary"},
    "soc.deadletter.original_text": STORED_ONLY,
    "soc.deadletter.original_bytes": LONG,
    "soc.deadletter.record": {"type": "object", "enabled": False},
}

# GeoIP (soc/geoip.py) and device-reported locations, on every side of a connection.
for _side in ("source", "destination", "client", "server"):
    COMMON_FIELDS |= {
        f"{_side}.geo.location": {"type": "geo_point"},
        f"{_side}.geo.continent_name": KEYWORD,
        f"{_side}.geo.country_iso_code": KEYWORD,
        f"{_side}.geo.country_name": KEYWORD,
        f"{_side}.geo.region_iso_code": KEYWORD,
        f"{_side}.geo.region_name": KEYWORD,
        f"{_side}.geo.city_name": KEYWORD,
        f"{_side}.as.number": LONG,
        f"{_side}.as.organization.name": KEYWORD,
    }


BLOCK_FIELDS: dict[str, dict[str, Any]] = {
    "@timestamp": DATE,
    **{f"soc.block.{name}": KEYWORD for name in (
        "id", "target", "scope", "state", "playbook", "decided_by", "devices", "rule_id", "rule_name",
        "alert_ids", "on_timeout", "approved_by", "failed_devices")},
    **{f"soc.block.{name}": DATE for name in ("expires_at", "created", "updated")},
    "soc.block.ttl_seconds": LONG,
    "soc.block.offenses": LONG,
    "soc.block.attempts": LONG,
    "soc.block.simulated": BOOL,
    "soc.block.reason": TEXT,
    "soc.block.approval_reason": TEXT,
}


INCIDENT_FIELDS: dict[str, dict[str, Any]] = {
    "@timestamp": DATE,
    "event.id": KEYWORD,
    "event.kind": KEYWORD,
    "event.dataset": KEYWORD,
    "labels.tenant": KEYWORD,
    **{f"soc.incident.{name}": KEYWORD for name in (
        "id", "status", "opened_by", "alert_ids", "source_ips", "assets", "rule_names")},
    **{f"soc.incident.{name}": DATE for name in ("created", "updated", "reopened", "closed")},
    "soc.incident.owner": KEYWORD,
    "soc.incident.title": TEXT,
    "soc.incident.summary": TEXT,
    "soc.incident.status_reason": TEXT,
    "soc.incident.reported": BOOL,  # set by the reporting issue when a notice went upstream
    # Classification and grade (GB/T 20986-2023; soc/reporting/grading.py, set_grading).
    **{f"soc.incident.{name}": KEYWORD for name in (
        "category", "category_code", "subcategory", "subcategory_code", "grade", "grade_code", "graded_by",
        "operator_type")},
    "soc.incident.graded_at": DATE,
    "soc.incident.grade_override": BOOL,
    **{f"soc.incident.{name}": TEXT for name in ("grade_basis", "classification_basis", "grade_override_reason")},
    "soc.incident.records_affected": LONG,  # personal-information records, when an analyst knows them
    # The timeline (soc/reporting/incidents.py): kept as written, read with the incident, never searched.
    "soc.incident.timeline": {"type": "object", "enabled": False},
    "soc.incident.timeline_dropped": LONG,
}


# The notice outbox (soc/reporting/outbox.py): one document per notice to one receiver, its
# delivery state, attempts and receipt; the notice itself is kept as sent, never searched.
OUTBOX_FIELDS: dict[str, dict[str, Any]] = {
    "@timestamp": DATE,
    "event.id": KEYWORD,
    "event.kind": KEYWORD,
    "event.dataset": KEYWORD,
    "labels.tenant": KEYWORD,
    **{f"soc.notice.{name}": KEYWORD for name in (
        "id", "incident_id", "kind", "state", "endpoint", "recipient", "adapter", "grade", "grade_code",
        "category_code", "subcategory_code", "operator_type", "idempotency_key", "created_by", "claimed_by",
        "receipt.receipt_id", "receipt.notice_id", "rejection.code", "overdue_alert_id")},
    **{f"soc.notice.{name}": DATE for name in (
        "created", "updated", "due_at", "next_attempt_at", "claimed_until", "first_attempt_at", "delivered_at",
        "rejected_at", "receipt.received_at", "overdue_alerted_at")},
    "soc.notice.sequence": LONG,
    "soc.notice.attempt_count": LONG,
    "soc.notice.receipt.duplicate": BOOL,
    "soc.notice.late": BOOL,
    "soc.notice.rejection.status": LONG,
    "soc.notice.rejection.message": TEXT,
    "soc.notice.last_error": TEXT,
    # Kept as written, read with the notice, never searched.
    "soc.notice.attempts": {"type": "object", "enabled": False},
    "soc.notice.body": STORED_ONLY,  # the notice's exact bytes (UTF-8 JSON): every attempt sends these
}


COMPLIANCE_FIELDS: dict[str, dict[str, Any]] = {
    "@timestamp": DATE,
    "labels.tenant": KEYWORD,
    "event.kind": KEYWORD,
    "event.dataset": KEYWORD,
    "event.outcome": KEYWORD,
    **{f"soc.compliance.{name}": KEYWORD for name in (
        "run_id", "check_id", "control", "subject", "subject_kind", "tenant", "status")},
    "soc.compliance.checked_at": DATE,
    "soc.compliance.mlps_level": LONG,
    **{f"soc.compliance.{name}": TEXT for name in ("title", "control_text", "reason")},
    "soc.compliance.evidence": {"type": "object", "enabled": False},  # kept as found, never mapped field by field
}


COMMENT_FIELDS: dict[str, dict[str, Any]] = {
    "@timestamp": DATE,
    **{name: KEYWORD for name in ("id", "alert_id", "author", "labels.tenant")},
    "text": TEXT,
}


AUDIT_FIELDS: dict[str, dict[str, Any]] = {
    "@timestamp": DATE,
    "seq": LONG,
    **{name: KEYWORD for name in ("actor", "action", "outcome", "target", "tenant", "prev_hash", "hash")},
    "source_ip": IP,
    "details": {"type": "object", "enabled": False},  # kept as written, never mapped field by field
}


USER_FIELDS: dict[str, dict[str, Any]] = {
    "@timestamp": DATE,
    "name": KEYWORD, "roles": KEYWORD, "tenants": KEYWORD, "failures": LONG, "locked_until": DATE,
    "disabled": BOOL, "password_hash": STORED_ONLY,
}
SESSION_FIELDS: dict[str, dict[str, Any]] = {
    "@timestamp": DATE,
    "user": KEYWORD, "csrf": STORED_ONLY, "created": DATE, "last_seen": DATE, "expires": DATE,
}
TOKEN_FIELDS: dict[str, dict[str, Any]] = {
    "@timestamp": DATE,
    "name": KEYWORD, "roles": KEYWORD, "tenants": KEYWORD, "created": DATE, "expires": DATE, "revoked": BOOL,
}


def _properties(fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Nest dotted field names into an Elasticsearch `properties` tree."""
    root: dict[str, Any] = {}
    for dotted, mapping in fields.items():
        parts = dotted.split(".")
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {"properties": {}})["properties"]
        node[parts[-1]] = dict(mapping)
    return root


# Vendor extras stay plain keywords: a `.ci` sub-field each would double what they take of the
# index's field budget (mapping.total_fields.limit), and rules are written against ECS fields.
DYNAMIC_STRINGS = [{"strings_as_keyword": {"match_mapping_type": "string",
                                           "mapping": {"type": "keyword", "ignore_above": 1024}}}]


def _template(pattern: str, fields: dict[str, dict[str, Any]], shards: int, replicas: int, priority: int) -> dict[str, Any]:
    return {
        "index_patterns": [pattern],
        "priority": priority,
        "template": {
            "settings": {
                "number_of_shards": shards,
                "number_of_replicas": replicas,
                "refresh_interval": "1s",
                "mapping.total_fields.limit": 3000,
                "mapping.ignore_malformed": False,
                # Sigma regexes translated for Lucene (soc/store/lucene.py) outgrow the default 1,000.
                "max_regex_length": 65536,
            },
            "mappings": {
                "dynamic": True,
                "date_detection": False,
                "dynamic_templates": DYNAMIC_STRINGS,
                "properties": _properties(fields),
            },
        },
        "_meta": {"managed_by": "soc", "description": "ECS mapping of the security-operations platform"},
    }


def index_templates(prefix: str, shards: int, replicas: int) -> dict[str, dict[str, Any]]:
    """Template name -> body, for every index the platform writes."""
    return {
        f"{prefix}-events": _template(f"{prefix}-events-*", COMMON_FIELDS, shards, replicas, 200),
        f"{prefix}-alerts": _template(f"{prefix}-alerts*", COMMON_FIELDS | ALERT_FIELDS, shards, replicas, 200),
        f"{prefix}-actions": _template(f"{prefix}-actions*", COMMON_FIELDS | ACTION_FIELDS, shards, replicas, 200),
        f"{prefix}-deadletter": _template(f"{prefix}-deadletter*", DEADLETTER_FIELDS, shards, replicas, 200),
        f"{prefix}-blocks": _template(f"{prefix}-blocks", BLOCK_FIELDS, shards, replicas, 200),
        f"{prefix}-incidents": _template(f"{prefix}-incidents", INCIDENT_FIELDS, shards, replicas, 200),
        f"{prefix}-compliance": _template(f"{prefix}-compliance", COMPLIANCE_FIELDS, shards, replicas, 200),
        f"{prefix}-outbox": _template(f"{prefix}-outbox", OUTBOX_FIELDS, shards, replicas, 200),
        f"{prefix}-comments": _template(f"{prefix}-comments", COMMENT_FIELDS, shards, replicas, 200),
        f"{prefix}-audit": _template(f"{prefix}-audit", AUDIT_FIELDS, shards, replicas, 200),
        f"{prefix}-users": _template(f"{prefix}-users", USER_FIELDS, shards, replicas, 200),
        f"{prefix}-sessions": _template(f"{prefix}-sessions", SESSION_FIELDS, shards, replicas, 200),
        f"{prefix}-tokens": _template(f"{prefix}-tokens", TOKEN_FIELDS, shards, replicas, 200),
    }
