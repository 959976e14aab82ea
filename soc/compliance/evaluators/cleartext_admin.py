"""Remote administration in clear text: connections to a system over telnet, FTP, rlogin/rsh or a
plain-HTTP management port, whose credentials cross the network readable (8.1.4.1 c; 7.1.4.1 c at
level 2).

What concerns the system: events whose `destination.ip` is in its networks (firewall, IDS,
network-audit, bastion and WAF records of connections to it), and the logins and sessions its own
hosts logged (`host.name` one of its hosts, `event.category` authentication or session, no
destination named). These are also the records whose absence makes the check not applicable.
Connections out of the system are not its remote administration and are left out, as are
destinations in params.exclude_destinations (the log collectors: syslog over TCP also uses 514).

Which protocol: `network.protocol` (compared lowercased) when it names telnet, ftp, rlogin or rsh;
otherwise `destination.port` (params.protocols: telnet 23, ftp 21, rlogin 513, rsh 514), except
when network.protocol names a protocol that is not clear text (ssh, https, syslog... in
params.not_cleartext), and for 513/514 (params.tcp_only_ports) except over UDP (who/syslog).
HTTP management: `destination.port` in params.http_admin_ports. Port 80 is not in the shipped
definition: a public service's port 80 is its business traffic, not its administration; list it
where it serves only a console.

Which records count (the others are counted apart as refused):
- logins: `event.category` authentication over such a protocol, whatever the outcome (a failed
  telnet login shows the service answering);
- allowed connections: `event.type` allowed, `event.outcome` success, or an `event.action` in
  params.allow_actions (allow, accept, permit, pass, 允许, 放行...: what the firewall parsers
  write), unless refused;
- session records: no verdict, but the record is of a session that took place (`event.type`
  connection, access, protocol, start or end: a NAT or session log, a network-audit device's
  telnet session, an FTP transfer log), unless refused, and not a threat alert (intrusion_detection
  or malware: an attempt seen is not a session held);
- refused: `event.type` denied, `event.outcome` failure, or an `event.action` in
  params.deny_actions.

Fail with the count per protocol (logins, allowed, session records, refused) and sample ids;
pass when none; not applicable when the inventory gives the system no network or host, or no
record concerns it in the window (no traffic seen: no evidence either way).
"""

from __future__ import annotations

from typing import Any

from soc.compliance.engine import Context, evaluator
from soc.compliance.evaluators.common import number
from soc.compliance.model import CheckDef, Subject, Verdict

PROTOCOLS: dict[str, list[int]] = {"telnet": [23], "ftp": [21], "rlogin": [513], "rsh": [514]}
TCP_ONLY = [513, 514]
HTTP_ADMIN = [8080]
NOT_CLEARTEXT = ["ssh", "sftp", "scp", "https", "http2", "tls", "ssl", "ftps", "rdp", "syslog", "dns", "snmp"]
ALLOW = ["allow", "allowed", "accept", "accepted", "permit", "permitted", "pass", "passed", "允许", "放行", "通过"]
DENY = ["deny", "denied", "drop", "dropped", "block", "blocked", "reject", "rejected", "reset", "拒绝", "阻断",
        "丢弃", "禁止"]
SESSION_TYPES = ["connection", "access", "protocol", "start", "end"]
THREATS = ["intrusion_detection", "malware"]
KINDS = ("logins", "allowed", "session_records", "refused")
KIND_ZH = {"logins": "登录", "allowed": "放行连接", "session_records": "会话记录", "refused": "被拒绝"}


def _lower(values: list[Any]) -> list[str]:
    return [str(v).lower() for v in values]


def protocol_clauses(check: CheckDef) -> dict[str, dict[str, Any]]:
    """Protocol name -> the records of a connection or login over it."""
    protocols: dict[str, list[int]] = dict(check.params.get("protocols", PROTOCOLS))
    tcp_only = set(check.params.get("tcp_only_ports", TCP_ONLY))
    safe = {"terms": {"network.protocol.ci": _lower(check.params.get("not_cleartext", NOT_CLEARTEXT))}}
    udp = {"term": {"network.transport": "udp"}}
    out: dict[str, dict[str, Any]] = {}
    for name, ports in protocols.items():
        by_port: list[dict[str, Any]] = []
        plain = [p for p in ports if p not in tcp_only]
        if plain:
            by_port.append({"bool": {"filter": [{"terms": {"destination.port": plain}}], "must_not": [safe]}})
        tcp = [p for p in ports if p in tcp_only]
        if tcp:
            by_port.append({"bool": {"filter": [{"terms": {"destination.port": tcp}}], "must_not": [safe, udp]}})
        out[name] = {"bool": {"should": [{"term": {"network.protocol.ci": name.lower()}}, *by_port],
                              "minimum_should_match": 1}}
    http = [int(p) for p in check.params.get("http_admin_ports", HTTP_ADMIN)]
    if http:
        out["http"] = {"bool": {"filter": [{"terms": {"destination.port": http}}], "must_not": [safe]}}
    return out


def kind_clauses(check: CheckDef) -> dict[str, dict[str, Any]]:
    """logins / allowed / session_records / refused: disjoint, in that order of precedence."""
    login = {"term": {"event.category": "authentication"}}
    refused = {"bool": {"should": [{"term": {"event.type": "denied"}}, {"term": {"event.outcome": "failure"}},
                                   {"terms": {"event.action.ci": _lower(check.params.get("deny_actions", DENY))}}],
                        "minimum_should_match": 1}}
    allowed = {"bool": {"should": [{"term": {"event.type": "allowed"}}, {"term": {"event.outcome": "success"}},
                                   {"terms": {"event.action.ci": _lower(check.params.get("allow_actions", ALLOW))}}],
                        "minimum_should_match": 1}}
    session = {"bool": {"filter": [{"terms": {"event.type": list(check.params.get("session_types", SESSION_TYPES))}}],
                        "must_not": [{"terms": {"event.category": THREATS}}]}}
    return {
        "logins": login,
        "allowed": {"bool": {"filter": [allowed], "must_not": [login, refused]}},
        "session_records": {"bool": {"filter": [session], "must_not": [login, refused, allowed]}},
        "refused": {"bool": {"filter": [refused], "must_not": [login]}},
    }


def scope_filter(check: CheckDef, subject: Subject) -> dict[str, Any] | None:
    """Records of connections to the system's addresses, and the logins and sessions its hosts
    logged themselves (no destination named)."""
    should: list[dict[str, Any]] = []
    if subject.networks:
        should.append({"terms": {"destination.ip": list(subject.networks)}})
    if subject.hosts:
        should.append({"bool": {"filter": [{"terms": {"host.name.ci": _lower(subject.hosts)}},
                                           {"terms": {"event.category": ["authentication", "session"]}}],
                                "must_not": [{"exists": {"field": "destination.ip"}}]}})
    if not should:
        return None
    scope: dict[str, Any] = {"bool": {"should": should, "minimum_should_match": 1}}
    excluded = list(check.params.get("exclude_destinations", []))
    if excluded:
        scope["bool"]["must_not"] = [{"terms": {"destination.ip": excluded}}]
    return scope


@evaluator("cleartext_admin")
async def cleartext_admin(ctx: Context, check: CheckDef, subject: Subject) -> Verdict:
    """Pass when no login over, and no allowed connection or session on, telnet, FTP, rlogin, rsh
    or an HTTP management port reached the system within the window."""
    samples = int(number(check, "samples", 10))
    scope = scope_filter(check, subject)
    if scope is None:
        return Verdict(status="not_applicable", evidence=ctx.evidence(check, ctx.events),
                       reason="资产清单未登记该系统的网段和主机名，无从判断到该系统的连接 "
                              "(the inventory gives the system no network and no host: its connections cannot be told)")
    query: dict[str, Any] = {"bool": {"filter": [scope, ctx.time_range(check)]}}
    protocols = protocol_clauses(check)
    kinds = kind_clauses(check)
    counted = {"bool": {"should": [kinds[k] for k in KINDS if k != "refused"], "minimum_should_match": 1}}
    aggs = {"protocol": {"filters": {"filters": protocols}, "aggs": {
        "kind": {"filters": {"filters": kinds}},
        "counted": {"filter": counted, "aggs": {
            "samples": {"top_hits": {"size": samples, "_source": False, "sort": [{"@timestamp": "desc"}]}}}},
    }}}
    res = await ctx.es.options(ignore_status=404).search(index=ctx.events, query=query, size=0,
                                                         track_total_hits=True, aggs=aggs)
    total = res["hits"]["total"]["value"] if res.meta.status == 200 else 0
    counts: dict[str, float] = {"events": total}
    ports = {name: list(check.params.get("protocols", PROTOCOLS).get(name, [])) for name in protocols}
    ports["http"] = [int(p) for p in check.params.get("http_admin_ports", HTTP_ADMIN)]
    notes = ["scope: destination.ip in the system's networks, or an authentication or session event of one of its "
             "hosts (host.name) that names no destination.ip",
             "protocols: " + ", ".join(f"{n} {'/'.join(map(str, ports.get(n, [])))}" for n in protocols)]
    if total == 0:
        return Verdict(status="not_applicable", evidence=ctx.evidence(check, ctx.events, query, counts=counts, notes=notes),
                       reason=f"{check.window} 内无到该系统地址的流量或登录记录，明文远程管理无从判断 "
                              f"(no record of traffic to or logins on the system within {check.window}: "
                              f"no evidence either way)")
    found: dict[str, int] = {}
    sample_ids: list[str] = []
    refused = 0
    buckets = res["aggregations"]["protocol"]["buckets"]
    for name in protocols:  # in the order of params, not the aggregation's
        b = buckets[name]
        for k in KINDS:
            n = int(b["kind"]["buckets"][k]["doc_count"])
            if n:
                counts[f"{name}.{k}"] = n
        c = int(b["counted"]["doc_count"])
        refused += int(b["kind"]["buckets"]["refused"]["doc_count"])
        if c:
            counts[name] = c
            found[name] = c
            sample_ids += [h["_id"] for h in b["counted"]["samples"]["hits"]["hits"]]
    counts["cleartext"] = sum(found.values())
    counts["refused"] = refused
    evidence = ctx.evidence(check, ctx.events, query, counts=counts, samples=list(dict.fromkeys(sample_ids)),
                            notes=notes)
    label = {n: (f"{n}({'/'.join(map(str, ports[n]))})" if n == "http" else n) for n in protocols}
    if found:
        def detail(name: str) -> str:
            parts = [f"{KIND_ZH[k]} {int(counts[f'{name}.{k}'])}" for k in KINDS[:3] if counts.get(f"{name}.{k}")]
            return f"{label[name]} {found[name]} 次（{'，'.join(parts)}）"
        shown = "、".join(detail(n) for n in found)
        shown_en = ", ".join(f"{label[n]} {found[n]}" for n in found)
        return Verdict(status="fail", evidence=evidence,
                       reason=f"{check.window} 内有以明文协议访问或管理该系统的记录：{shown} "
                              f"(clear-text administration or access to the system within {check.window}: {shown_en})")
    names = "、".join(label.values())
    tail = f"，另有 {refused} 次此类连接被拒绝" if refused else ""
    return Verdict(status="pass", evidence=evidence,
                   reason=f"{check.window} 内 {total} 条到该系统的流量或登录记录中未见放行的 {names} 连接或登录{tail} "
                          f"(none of {total} records of traffic to or logins on the system within {check.window} shows "
                          f"an allowed {', '.join(label.values())} connection or a login over them"
                          f"{f'; {refused} such connection(s) refused' if refused else ''})")
