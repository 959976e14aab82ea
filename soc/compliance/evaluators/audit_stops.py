"""What stops auditing on a host or device, and what shows it running again (8.1.4.3 d).

Each family pairs the events that stop one audit mechanism with the events that show it back, as
Elasticsearch queries on the fields the parsers write (docs/parsers.md). The rule library detects
the same stops line by line (rules/linux/host_linux_auditd_tampering.yml,
host_linux_logging_stopped.yml, rules/windows/host_windows_log_cleared.yml,
host_windows_audit_policy_disabled.yml, rules/audit/host_audit_loghost_removed.yml); the events
behind their alerts are stops too (continuity.py, params.stop_rules), which covers the lines whose
words are only in event.original (a Topsec configuration log deleting the syslog server).

- auditd: DAEMON_END / DAEMON_ABORT (event.action shutdown-audit / aborted-audit-daemon),
  SERVICE_STOP of the auditd unit, CONFIG_CHANGE audit_enabled=0, `service auditd stop`,
  `systemctl stop auditd`, `auditctl -e 0` in a command line or proctitle (auditd EXECVE/USER_CMD/
  PROCTITLE records, bastion sessions), the syslog lines of auditd exiting and of systemd stopping
  the Security Auditing Service. Back: DAEMON_START (started-audit), SERVICE_START of auditd,
  audit_enabled=1/2, the start commands, systemd's "Started Security Auditing Service".
- syslog: SERVICE_STOP of rsyslog / syslog-ng / journald, rsyslogd "exiting on signal", systemd
  stopping the System Logging Service or the Journal Service, the stop commands. Back: their starts.
- windows_eventlog: the event log service or its syslog forwarder shutting down (event.action
  logging-service-shutdown: Security 1100, "Eventlog to Syslog Service Stopped"). Back:
  logging-service-started, 4608 (Windows starting up), 6005 (the event log service started).
- windows_log_cleared: 1102 (event.action audit-log-cleared), System 104 of
  Microsoft-Windows-Eventlog. Nothing brings cleared records back: only a closed alert resolves it.
- windows_audit_policy: 4719 removing success/failure auditing (%%8448 / %%8450, 已删除, removed).
  Back: a 4719 adding it (%%8449 / %%8451, 已添加, added).
- loghost: a device's log export removed: `undo info-center loghost|enable` (Huawei, H3C),
  `no logging host|server|trap|on` (Cisco), 删除日志服务器 / 关闭日志 in the device's own words.
  Back: the same configured again.

Words are matched as phrases on the analysed text (`message`, `process.command_line.text`,
`process.title.text`), which the index answers from its postings; a regular expression on the
per-event `.ci` keywords would read the whole term dictionary of every index, per system, per run.
Codes and names are exact terms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Query = dict[str, Any]
COMMAND_FIELDS = ("process.command_line.text", "process.title.text")


def _phrases(fields: tuple[str, ...], *phrases: str) -> Query:
    return {"bool": {"should": [{"match_phrase": {f: p}} for f in fields for p in phrases], "minimum_should_match": 1}}


def _all(*clauses: Query, not_: tuple[Query, ...] = ()) -> Query:
    body: dict[str, Any] = {"filter": list(clauses)}
    if not_:
        body["must_not"] = list(not_)
    return {"bool": body}


def _any(*clauses: Query) -> Query:
    return {"bool": {"should": list(clauses), "minimum_should_match": 1}}


def _term(fld: str, *values: str) -> Query:
    return {"terms": {fld: list(values)}} if len(values) > 1 else {"term": {fld: values[0]}}


def _command(*phrases: str) -> Query:
    """A command line as auditd (EXECVE, USER_CMD), PROCTITLE or a bastion session records it."""
    return _phrases(COMMAND_FIELDS, *phrases)


def _text(*phrases: str) -> Query:
    """Words of a log line: its message, or a command it records."""
    return _phrases(("message", *COMMAND_FIELDS), *phrases)


def _record(record_type: str, **fields: tuple[str, ...]) -> Query:
    return _all(_term("auditd.log.record_type", record_type),
                *(_term(f"auditd.log.{k}", *v) for k, v in fields.items()))


def _says(process: str, *phrases: str, prefix: bool = False) -> Query:
    """A syslog line of a program (process.name) whose message says one of the phrases."""
    who = {"prefix": {"process.name": process}} if prefix else _term("process.name", process)
    return _all(who, _phrases(("message",), *phrases))


def _services(verbs: tuple[str, ...], units: tuple[str, ...]) -> tuple[str, ...]:
    """`systemctl <verb> <unit>`, `systemctl <verb> <unit>.service` and `service <unit> <verb>`."""
    out = []
    for unit in units:
        for verb in verbs:
            out += [f"systemctl {verb} {unit}", f"systemctl {verb} {unit}.service"]
            if verb in ("stop", "start", "restart"):
                out.append(f"service {unit} {verb}")
    return tuple(out)


@dataclass(frozen=True)
class Family:
    name: str
    title: str  # 中文
    stop: list[Query]
    restart: list[Query] = field(default_factory=list)


AUDITD_UNITS = ("auditd", "auditd.service")
SYSLOG_UNITS = ("rsyslog", "rsyslog.service", "syslog-ng", "syslog-ng.service", "systemd-journald",
                "systemd-journald.service")
SYSLOG_DAEMONS = ("rsyslog", "syslog-ng", "systemd-journald")

FAMILIES: tuple[Family, ...] = (
    Family(
        "auditd", "Linux 审计服务 auditd",
        stop=[
            _term("event.action", "shutdown-audit", "aborted-audit-daemon"),
            _term("auditd.log.record_type", "DAEMON_END", "DAEMON_ABORT"),
            _record("SERVICE_STOP", unit=AUDITD_UNITS),
            _record("CONFIG_CHANGE", audit_enabled=("0",)),
            _says("auditd", "audit daemon is exiting", "audit daemon is stopping", "suspending logging"),
            _says("systemd", "stopping security auditing service", "stopped security auditing service"),
            _command("auditctl -e 0", "pkill auditd", "killall auditd",
                     *_services(("stop", "disable", "mask"), ("auditd",))),
        ],
        restart=[
            _term("event.action", "started-audit"),
            _term("auditd.log.record_type", "DAEMON_START"),
            _record("SERVICE_START", unit=AUDITD_UNITS),
            _record("CONFIG_CHANGE", audit_enabled=("1", "2")),
            _says("systemd", "started security auditing service"),
            _says("auditd", "init complete", "started dispatcher"),
            _command("auditctl -e 1", "auditctl -e 2", *_services(("start", "restart"), ("auditd",))),
        ],
    ),
    Family(
        "syslog", "系统日志服务 rsyslog/syslog-ng/journald",
        stop=[
            _record("SERVICE_STOP", unit=SYSLOG_UNITS),
            _says("rsyslog", "exiting on signal", prefix=True),
            _says("systemd", *(f"{v} {s}" for v in ("stopping", "stopped")
                               for s in ("system logging service", "system logger daemon", "journal service"))),
            _command("pkill rsyslogd", "killall rsyslogd", "pkill syslog-ng", "killall syslog-ng",
                     *_services(("stop", "disable", "mask"), SYSLOG_DAEMONS)),
        ],
        restart=[
            _record("SERVICE_START", unit=SYSLOG_UNITS),
            _all({"prefix": {"process.name": "rsyslog"}}, _phrases(("message",), "start"),
                 not_=(_phrases(("message",), "exiting"),)),
            _says("systemd", *(f"started {s}" for s in ("system logging service", "system logger daemon",
                                                        "journal service"))),
            _command(*_services(("start", "restart"), SYSLOG_DAEMONS)),
        ],
    ),
    Family(
        "windows_eventlog", "Windows 事件日志服务或其日志外发代理",
        stop=[_term("event.action", "logging-service-shutdown")],
        restart=[
            _term("event.action", "logging-service-started"),
            _all(_term("event.code", "4608", "6005"), _term("host.os.type", "windows")),
        ],
    ),
    Family(
        "windows_log_cleared", "Windows 审核日志被清除",
        stop=[
            _term("event.action", "audit-log-cleared"),
            _all(_term("event.code", "1102"), _term("host.os.type", "windows")),
            _all(_term("event.code", "104"), _term("winlog.provider_name", "Microsoft-Windows-Eventlog")),
        ],
    ),
    Family(
        "windows_audit_policy", "Windows 审核策略",
        # AuditPolicyChanges holds a handful of distinct values: a pattern on it is cheap.
        stop=[_all(_term("event.code", "4719"), _any(
            {"regexp": {"winlog.event_data.AuditPolicyChanges.ci": {"value": ".*(%%8448|%%8450|removed).*",
                                                                     "flags": "NONE"}}},
            _phrases(("message",), "已删除成功", "已删除失败", "success removed", "failure removed")))],
        restart=[_all(_term("event.code", "4719"), _any(
            {"regexp": {"winlog.event_data.AuditPolicyChanges.ci": {"value": ".*(%%8449|%%8451|added).*",
                                                                     "flags": "NONE"}}},
            _phrases(("message",), "已添加成功", "已添加失败", "success added", "failure added")))],
    ),
    Family(
        "loghost", "设备日志外发（日志服务器）",
        stop=[_text("undo info-center loghost", "undo info-center enable", "no logging host", "no logging server",
                    "no logging trap", "no logging on", "no logging enable",
                    "删除日志服务器", "删除远程日志服务器", "删除syslog服务器", "关闭日志", "禁用日志", "停止日志外发",
                    "关闭syslog", "禁用syslog")],
        restart=[
            _all(_text("info-center loghost", "info-center enable"), not_=(_text("undo info-center"),)),
            _all(_text("logging host", "logging server", "logging trap"),
                 not_=(_text("no logging"),)),
            _text("添加日志服务器", "新增日志服务器", "配置日志服务器", "添加syslog服务器", "开启日志", "启用日志",
                  "恢复日志外发", "开启syslog", "启用syslog"),
        ],
    ),
)
BY_NAME = {f.name: f for f in FAMILIES}


def named_clauses() -> list[Query]:
    """Every stop and restart clause, named `stop:<family>:<n>` / `restart:<family>:<n>` so a
    hit's matched_queries tell what it is."""
    out: list[Query] = []
    for fam in FAMILIES:
        for kind, clauses in (("stop", fam.stop), ("restart", fam.restart)):
            for k, clause in enumerate(clauses):
                out.append({"bool": {"filter": [clause], "_name": f"{kind}:{fam.name}:{k}"}})
    return out


def classify(matched: list[str]) -> tuple[set[str], set[str]]:
    """(families stopped, families restarted) by a hit's matched_queries."""
    stops: set[str] = set()
    restarts: set[str] = set()
    for name in matched:
        kind, _, rest = name.partition(":")
        fam = rest.split(":", 1)[0]
        if kind == "stop":
            stops.add(fam)
        elif kind == "restart":
            restarts.add(fam)
    return stops, restarts
