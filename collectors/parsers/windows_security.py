"""Windows Security event log to ECS: winlogbeat JSON, and the localized (Chinese or English) text
that Eventlog-to-Syslog, NXLog and Snare agents forward over syslog; and the Eventlog-to-Syslog
agent's own start/stop notices.

event.code is the event id; event.action/category/type follow Elastic's windows integration
vocabulary ("logged-in", "logon-failed", ...). For logon events user.name is the account that
logged on; for account management it is the actor and user.target.name the account changed.
The host is the observer: observer.vendor "microsoft", product "windows", type "host", and
host.os.type "windows".
"""

from __future__ import annotations

import re
from typing import Any

from soc.model import get_path, iso, parse_iso, set_path

from . import register_message
from .base import Doc, ParseContext, ParseError, decode_json
from .kv import relate_ips, set_host_os, valid_ip

# event id -> (action, category, type, outcome or "")
EVENTS: dict[str, tuple[str, list[str], list[str], str]] = {
    "4624": ("logged-in", ["authentication"], ["start"], "success"),
    "4625": ("logon-failed", ["authentication"], ["start"], "failure"),
    "4634": ("logged-out", ["authentication"], ["end"], "success"),
    "4647": ("logged-out", ["authentication"], ["end"], "success"),
    "4648": ("logged-in-explicit", ["authentication"], ["start"], "success"),
    "4672": ("logged-in-special", ["iam"], ["admin"], "success"),
    "4688": ("created-process", ["process"], ["start"], "success"),
    "4689": ("exited-process", ["process"], ["end"], "success"),
    "4720": ("added-user-account", ["iam"], ["user", "creation"], "success"),
    "4722": ("enabled-user-account", ["iam"], ["user", "change"], "success"),
    "4723": ("changed-password", ["iam"], ["user", "change"], ""),
    "4724": ("reset-password", ["iam"], ["user", "change"], ""),
    "4725": ("disabled-user-account", ["iam"], ["user", "change"], "success"),
    "4726": ("deleted-user-account", ["iam"], ["user", "deletion"], "success"),
    "4728": ("added-member-to-group", ["iam"], ["group", "change"], "success"),
    "4732": ("added-member-to-group", ["iam"], ["group", "change"], "success"),
    "4756": ("added-member-to-group", ["iam"], ["group", "change"], "success"),
    "4740": ("locked-out-user-account", ["iam"], ["user", "change"], "success"),
    "4746": ("added-member-to-distribution-group", ["iam"], ["group", "change"], "success"),
    "4767": ("unlocked-user-account", ["iam"], ["user", "change"], "success"),
    "4771": ("kerberos-preauth-failed", ["authentication"], ["start"], "failure"),
    "4776": ("credential-validated", ["authentication"], ["start"], ""),
    "1100": ("logging-service-shutdown", ["process"], ["end"], "success"),
    "1102": ("audit-log-cleared", ["iam"], ["admin", "change"], "success"),
    "4662": ("object-operation-performed", ["iam", "configuration"], ["admin", "change"], "success"),
    "4698": ("scheduled-task-created", ["iam", "configuration"], ["creation", "admin"], "success"),
    "4902": ("user-audit-policy-created", ["iam", "configuration"], ["admin", "creation"], "success"),
    "5136": ("directory-service-object-modified", ["iam", "configuration"], ["admin", "change"], "success"),
    "5145": ("network-share-object-access-checked", ["network", "file"], ["info", "access"], "success"),
    "5156": ("windows-firewall-connection-allowed", ["network"], ["connection", "allowed"], "success"),
    "5157": ("windows-firewall-connection-blocked", ["network"], ["connection", "denied"], "failure"),
}
# Events whose user.name is the account that logged on (TargetUserName), not the subject.
_LOGON = frozenset({"4624", "4625", "4634", "4647", "4771", "4776"})
# A member added to a group: TargetUserName is the group (group.*), the member user.target.*.
_GROUP_CHANGE = frozenset({"4728", "4732", "4746", "4756"})

# --- localized text: first sentence -> event id (zh-CN, both 帐户 and 账户 spellings, and en-US).
_TITLES: tuple[tuple[str, str], ...] = (
    ("已成功登录帐户", "4624"), ("已成功登录账户", "4624"), ("An account was successfully logged on", "4624"),
    ("帐户登录失败", "4625"), ("账户登录失败", "4625"), ("An account failed to log on", "4625"),
    ("帐户已注销", "4634"), ("账户已注销", "4634"), ("An account was logged off", "4634"),
    ("用户启动了注销", "4647"), ("试图使用显式凭据登录", "4648"), ("A logon was attempted using explicit credentials", "4648"),
    ("为新登录分配了特殊权限", "4672"), ("Special privileges assigned to new logon", "4672"),
    ("已创建新进程", "4688"), ("A new process has been created", "4688"),
    ("已创建用户帐户", "4720"), ("已创建用户账户", "4720"), ("A user account was created", "4720"),
    ("已将成员添加到启用安全性的全局组中", "4728"), ("已将成员添加到启用安全性的本地组中", "4732"),
    ("已将成员添加到启用安全性的通用组中", "4756"), ("A member was added to a security-enabled global group", "4728"),
    ("A member was added to a security-enabled local group", "4732"),
    ("A member was added to a security-enabled universal group", "4756"),
    ("已删除用户帐户", "4726"), ("已删除用户账户", "4726"), ("A user account was deleted", "4726"),
    ("用户帐户被锁定", "4740"), ("用户账户被锁定", "4740"), ("用户帐户已锁定", "4740"), ("A user account was locked out", "4740"),
    ("审核日志已被清除", "1102"), ("审核日志已清除", "1102"), ("The audit log was cleared", "1102"),
    ("筛选平台已允许连接", "5156"), ("Filtering Platform has permitted a connection", "5156"),
    ("筛选平台已阻止连接", "5157"), ("Filtering Platform has blocked a connection", "5157"),
)  # fmt: skip
_EVTSYS = re.compile(r"(?:[\w\-]{1,64}: )?(\d{3,5}): (AUDIT_SUCCESS|AUDIT_FAILURE|\w{1,32}) ")
_SNARE = re.compile(
    r"MSWinEventLog\t\d{0,3}\t([^\t]{0,64})\t\d{0,20}\t([^\t]{0,64})\t(\d{1,5})\t([^\t]{0,128})\t([^\t]{0,256})"
    r"\t([^\t]{0,64})\t([^\t]{0,64})\t([^\t]{0,256})\t([^\t]{0,128})\t(.*)$"
)
_SEP = r"\s{0,3}[:：]\s{0,3}"
_VALUE = r"(\S{1,256})"
# Section headers that introduce the target account (the one logged on, failed, created...).
_TARGET_SECTIONS = ("新登录", "登录失败的帐户", "登录失败的账户", "新帐户", "新账户", "目标帐户", "目标账户",
                    "被锁定的帐户", "被锁定的账户", "使用了其凭据的帐户", "使用了其凭据的账户",
                    "New Logon", "Account For Which Logon Failed", "New Account", "Target Account",
                    "Account That Was Locked Out", "Account Whose Credentials Were Used")  # fmt: skip
_LABELS: dict[str, tuple[str, ...]] = {
    "account": ("帐户名", "账户名", "帐户名称", "账户名称", "Account Name"),
    "domain": ("帐户域", "账户域", "Account Domain"),
    "src_ip": ("源网络地址", "源地址", "Source Network Address", "Source Address", "Client Address"),
    "src_port": ("源端口", "Source Port", "Client Port"),
    "dst_ip": ("目标地址", "Destination Address"),
    "dst_port": ("目标端口", "Destination Port"),
    "proto": ("协议", "Protocol"),
    "workstation": ("工作站名", "工作站名称", "Workstation Name"),
    "logon_type": ("登录类型", "Logon Type"),
    "process": ("新进程名", "新进程名称", "应用程序名称", "进程名", "进程名称", "New Process Name", "Application Name", "Process Name"),
    "command_line": ("进程命令行", "Process Command Line"),
    "direction": ("方向", "Direction"),
    "reason": ("失败原因", "Failure Reason"),
    "status": ("状态", "Status"),
    "sub_status": ("子状态", "Sub Status"),
    "sid": ("安全 ID", "安全标识符", "Security ID"),
    "group": ("组名", "组名称", "Group Name"),
    "group_domain": ("组域", "Group Domain"),
}  # fmt: skip
# Labels whose values may hold spaces ("ANONYMOUS LOGON", "NT AUTHORITY", "Domain Admins",
# "C:\Program Files\..."); the other values are one word.
_SPACED = frozenset({"account", "domain", "workstation", "process", "group", "group_domain"})
# English labels that may follow such a value. Text forwarded by Snare or NXLog keeps the
# message's tabs, line breaks or runs of spaces between fields; evtsys squeezes them to one
# space, so there a value ends before the next label: a known English one, or any Chinese one.
_NEXT_EN = tuple(label for labels in _LABELS.values() for label in labels if label.isascii()) + tuple(
    h for h in _TARGET_SECTIONS if h.isascii()
) + ("Subject", "Member", "Group", "Logon ID", "Linked Logon ID", "Logon GUID", "Network Account Name",
     "Network Account Domain", "Network Information", "Process Information", "Failure Information",
     "Additional Information", "Detailed Authentication Information", "Privileges", "Token Elevation Type",
     "Process ID", "Logon Process", "Caller Computer Name")  # fmt: skip
_SPACED_VALUE = (
    r"(\S[^\t\r\n]{0,255}?)(?=\s?$|\s{2,}|[\t\r\n]|\s(?:"
    + "|".join(map(re.escape, _NEXT_EN))
    + r"|的?[\u4e00-\u9fff]{1,16}(?: ?ID| ?GUID)?)"
    + _SEP
    + ")"
)
_LABEL_RX = {
    name: re.compile(
        r"(?<![\w\u4e00-\u9fff])(?:的)?(?:" + "|".join(map(re.escape, labels)) + r")" + _SEP
        + (_SPACED_VALUE if name in _SPACED else _VALUE)
    )
    for name, labels in _LABELS.items()
}
# 4728/4732/4756 text: the "Member:" section, then the "Group:" one (not the title's 成员).
_MEMBER = re.compile(r"(?<![\w\u4e00-\u9fff])(?:成员|Member)" + _SEP)
_GROUP = re.compile(r"(?<![\w\u4e00-\u9fff])(?:组|Group)" + _SEP)
_DN_CN = re.compile(r"CN=((?:\\.|[^,\\]){1,256})", re.I)
_CMDLINE = re.compile(r"(?:进程命令行|Process Command Line)" + _SEP + r"(.{1,8192}?)(?=\s{2,}|\s令牌|\s Token|$)")
_REASON = re.compile(r"(?:失败原因|Failure Reason)" + _SEP + r"(.{1,256}?)(?:\s{1,4}(?:状态|Status)" + _SEP + ")")
# The Eventlog-to-Syslog agent (evtsys) announcing itself: "Eventlog to Syslog Service Started: ...".
_EVTSYS_SERVICE = re.compile(r"Eventlog to Syslog Service (Started|Stopped)\b")
_TRANSPORT = {"6": "tcp", "17": "udp", "1": "icmp", "58": "ipv6-icmp"}
_DIRECTION = {"入站": "inbound", "出站": "outbound", "inbound": "inbound", "outbound": "outbound"}


def sniff_windows(body: str) -> bool:
    """winlogbeat JSON, a Snare record, or "<id>: AUDIT_SUCCESS|AUDIT_FAILURE" text."""
    if body.startswith("{"):
        return '"winlog"' in body
    if body.startswith("MSWinEventLog"):
        return True
    return "AUDIT_" in body[:100] and _EVTSYS.match(body[:100]) is not None


def _classify(doc: Doc, code: str, outcome: str | None) -> None:
    set_host_os(doc, "windows")
    set_path(doc, "event.code", code)
    known = EVENTS.get(code)
    if known is not None:
        action, category, types, default_outcome = known
        set_path(doc, "event.action", action)
        set_path(doc, "event.category", category)
        set_path(doc, "event.type", types)
        outcome = outcome or default_outcome
    if outcome:
        set_path(doc, "event.outcome", outcome)


def _user(doc: Doc, field: str, name: Any) -> None:
    if isinstance(name, str) and name and name != "-":
        set_path(doc, field, name)
        related = get_path(doc, "related.user") or []
        if name not in related:
            related.append(name)
        set_path(doc, "related.user", related)


def _group_change(doc: Doc, group: Any, domain: Any, group_sid: Any, member: Any, member_sid: Any) -> None:
    """A member added to a group: group.name/domain/id, and the member as user.target.name (the
    CN of a distinguished name, as Elastic reads it) and user.target.id."""
    for field, value in (("group.name", group), ("group.domain", domain), ("group.id", group_sid),
                         ("user.target.id", member_sid)):  # fmt: skip
        if isinstance(value, str) and value not in ("", "-"):
            set_path(doc, field, value)
    cn = _DN_CN.match(member) if isinstance(member, str) else None
    _user(doc, "user.target.name", cn.group(1).replace("\\", "") if cn else member)


def _source(doc: Doc, addr: Any, port: Any) -> None:
    if isinstance(addr, str) and addr not in ("-", ""):
        ip = valid_ip(addr)
        if ip is not None:
            set_path(doc, "source.ip", ip)
        else:
            set_path(doc, "source.domain", addr)
    if isinstance(port, str | int) and str(port).isdigit() and int(port) > 0:
        set_path(doc, "source.port", int(port))


def _winlogbeat(body: str, doc: Doc) -> None:
    data = decode_json(body, "windows_json_invalid")
    winlog = data.get("winlog") if isinstance(data, dict) else None
    if not isinstance(winlog, dict) or "event_id" not in winlog:
        raise ParseError("windows_no_winlog", "no winlog.event_id")
    code = str(winlog["event_id"])
    ed: dict[str, Any] = winlog.get("event_data") or winlog.get("user_data") or {}
    # The event's own time (time_created); @timestamp of a forwarded document may be its shipping time.
    ts = winlog.get("time_created") or data.get("@timestamp") or get_path(data, "event.created")
    if isinstance(ts, str):
        try:
            set_path(doc, "@timestamp", iso(parse_iso(ts)))
        except ValueError:
            doc.setdefault("tags", []).append("_timestamp_invalid")
    set_path(doc, "event.module", "windows")
    set_path(doc, "event.dataset", "windows.security")
    provider = winlog.get("provider_name")
    if provider:
        set_path(doc, "event.provider", provider)
    if winlog.get("computer_name"):
        set_path(doc, "host.name", winlog["computer_name"])
    set_path(doc, "winlog.event_id", code)
    for key in ("channel", "record_id", "computer_name", "provider_name", "logon"):
        if key in winlog:
            set_path(doc, f"winlog.{key}", winlog[key])
    if ed:
        set_path(doc, "winlog.event_data", ed)
    keywords = " ".join(winlog.get("keywords") or [])
    outcome = winlog.get("outcome") or get_path(data, "event.outcome")
    if "Audit Failure" in keywords:
        outcome = "failure"
    elif "Audit Success" in keywords and not outcome:
        outcome = "success"
    _classify(doc, code, outcome if outcome in ("success", "failure") else None)

    subject, target = ed.get("SubjectUserName"), ed.get("TargetUserName")
    if code in _LOGON:
        _user(doc, "user.name", target or subject)
        if ed.get("TargetDomainName") not in (None, "-"):
            set_path(doc, "user.domain", ed["TargetDomainName"])
        if ed.get("TargetUserSid"):
            set_path(doc, "user.id", ed["TargetUserSid"])
    else:
        _user(doc, "user.name", subject)
        if ed.get("SubjectDomainName") not in (None, "-"):
            set_path(doc, "user.domain", ed["SubjectDomainName"])
        if ed.get("SubjectUserSid"):
            set_path(doc, "user.id", ed["SubjectUserSid"])
        if code in _GROUP_CHANGE:
            _group_change(doc, target, ed.get("TargetDomainName"), ed.get("TargetSid"), ed.get("MemberName"),
                          ed.get("MemberSid"))  # fmt: skip
        elif target:
            _user(doc, "user.target.name", target)
    _source(doc, ed.get("IpAddress"), ed.get("IpPort"))
    if ed.get("WorkstationName") not in (None, "-"):
        set_path(doc, "source.domain", ed["WorkstationName"])
    if code == "4688":
        if ed.get("NewProcessName"):
            set_path(doc, "process.executable", ed["NewProcessName"])
            set_path(doc, "process.name", re.split(r"[\\/]", ed["NewProcessName"])[-1])
        if ed.get("CommandLine"):
            set_path(doc, "process.command_line", ed["CommandLine"])
        pid = str(ed.get("NewProcessId", ""))
        if pid.lower().startswith("0x"):
            set_path(doc, "process.pid", int(pid, 16))
    if ed.get("LogonType"):
        set_path(doc, "winlog.logon.type", str(ed["LogonType"]))
    if code == "4625" and ed.get("FailureReason"):
        set_path(doc, "event.reason", ed["FailureReason"])
    relate_ips(doc, " ".join(str(v) for v in ed.values() if isinstance(v, str)))


def _label(text: str, name: str) -> str | None:
    m = _LABEL_RX[name].search(text)
    if m is None or m.group(1) in ("-", "—"):
        return None
    return m.group(1)


def _text(body: str, doc: Doc, code: str | None, outcome: str | None) -> None:
    """Localized message text: event id from the caller or the title, fields from the labels."""
    if code is None:
        for title, event_id in _TITLES:
            if title in body[:300]:
                code = event_id
                break
    if code is None:
        raise ParseError("windows_unknown_text", "no event id and no known title")
    set_path(doc, "event.module", "windows")
    set_path(doc, "event.dataset", "windows.security")
    set_path(doc, "event.provider", "Microsoft-Windows-Security-Auditing")
    _classify(doc, code, outcome)
    # The target account's section, when the event has one; else the subject's.
    section = body
    for header in _TARGET_SECTIONS:
        pos = body.find(header)
        if pos >= 0:
            section = body[pos:]
            break
    account = _label(section, "account")
    if code in _GROUP_CHANGE:
        _user(doc, "user.name", _label(body, "account"))
        m = _MEMBER.search(body)
        start = m.end() if m else len(body)
        g = _GROUP.search(body, start)
        member, group = body[start : g.start() if g else None], body[g.end() :] if g else body
        _group_change(doc, _label(group, "group"), _label(group, "group_domain"), _label(group, "sid"),
                      _label(member, "account"), _label(member, "sid"))  # fmt: skip
    elif code in _LOGON or section is body or code in ("4672",):
        _user(doc, "user.name", account)
    else:
        _user(doc, "user.name", _label(body, "account"))
        _user(doc, "user.target.name", account)
    domain = _label(section, "domain")
    if domain:
        set_path(doc, "user.domain", domain)
    _source(doc, _label(body, "src_ip"), _label(body, "src_port"))
    dst = valid_ip(_label(body, "dst_ip") or "")
    if dst is not None:
        set_path(doc, "destination.ip", dst)
    dport = _label(body, "dst_port")
    if dport and dport.isdigit():
        set_path(doc, "destination.port", int(dport))
    proto = _label(body, "proto")
    if proto and proto.isdigit():
        set_path(doc, "network.iana_number", proto)
        set_path(doc, "network.transport", _TRANSPORT.get(proto, proto))
    direction = _label(body, "direction")
    if direction and direction.lower() in _DIRECTION:
        set_path(doc, "network.direction", _DIRECTION[direction.lower()])
    workstation = _label(body, "workstation")
    if workstation and get_path(doc, "source.domain") is None:
        set_path(doc, "source.domain", workstation)
    logon_type = _label(body, "logon_type")
    if logon_type and logon_type.isdigit():
        set_path(doc, "winlog.logon.type", logon_type)
    process = _label(body, "process")
    if process:
        set_path(doc, "process.executable", process)
        set_path(doc, "process.name", re.split(r"[\\/]", process)[-1])
    cmd = _CMDLINE.search(body)
    if cmd is not None and cmd.group(1).strip() not in ("", "-"):
        set_path(doc, "process.command_line", cmd.group(1).strip())
    reason = _REASON.search(body)
    if reason is not None:
        set_path(doc, "event.reason", reason.group(1).strip())
    set_path(doc, "message", body)
    relate_ips(doc, body)


@register_message(
    "windows_security",
    sniff=sniff_windows,
    programs=("Security-Auditing", "Microsoft-Windows-Security-Auditing", "MSWinEventLog"),
    priority=20,
)
def parse_windows_security(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Read a Windows Security event (winlogbeat JSON, Snare, or localized text) into doc."""
    text = body.strip()
    if text.startswith("{"):
        _winlogbeat(text, doc)
        return
    m = _SNARE.match(text)
    if m is not None:
        _channel, _when, code, _source_name, user, _sid_type, audit, computer, _category, tail = m.groups()
        # DataString, ExpandedString and a trailing counter/MD5: the message is the longest.
        message = max(tail.split("\t"), key=len)
        outcome = "failure" if "Failure" in audit else "success" if "Success" in audit else None
        if computer:
            set_path(doc, "host.name", computer)
        _text(message, doc, code, outcome)
        if get_path(doc, "user.name") is None and user and user not in ("N/A", "-"):
            _user(doc, "user.name", user)
        return
    m = _EVTSYS.match(text[:100])
    if m is not None:
        code, audit = m.groups()
        outcome = {"AUDIT_SUCCESS": "success", "AUDIT_FAILURE": "failure"}.get(audit)
        _text(text[m.end() :], doc, code, outcome)
        return
    _text(text, doc, None, None)


@register_message(
    "windows_evtsys", sniff=lambda body: body.startswith("Eventlog to Syslog Service "), priority=20
)
def parse_windows_evtsys(body: str, doc: Doc, ctx: ParseContext) -> None:
    """The Eventlog-to-Syslog agent starting or stopping (the host's log forwarding, like 1100)."""
    m = _EVTSYS_SERVICE.match(body.strip())
    if m is None:
        raise ParseError("evtsys_unknown", "not an Eventlog to Syslog service notice")
    started = m.group(1) == "Started"
    set_host_os(doc, "windows")
    set_path(doc, "event.module", "windows")
    set_path(doc, "event.dataset", "windows.evtsys")
    set_path(doc, "event.provider", "evtsys")
    set_path(doc, "event.action", "logging-service-started" if started else "logging-service-shutdown")
    set_path(doc, "event.category", ["process"])
    set_path(doc, "event.type", ["start"] if started else ["end"])
