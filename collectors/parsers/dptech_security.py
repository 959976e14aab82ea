"""DPtech (迪普) devices to ECS: the `%%MOD/SUB/LEVEL/TYPE(l): …` logs of the IPS, UAG, WAF, firewall
and Guard/Probe anti-DDoS, the firewall's pipe-separated session/policy records, the APT sensor,
the OSP bastion host, the DSP database audit and the XDR endpoint agent (`Type;;n;;epoch;;…`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from soc.model import get_path, iso, set_path

from . import register_message
from .base import Doc, ParseContext, ParseError
from .kv import SYSLOG_SEVERITY, apply_fields, finish_event, local_time, set_severity, split_kv, valid_ip

VENDOR = "dptech"
_TS = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T:](\d{1,2})[:\-](\d{2})[:\-](\d{2})")
_PROTO_NUM = {"1": "icmp", "6": "tcp", "17": "udp", "58": "ipv6-icmp", "47": "gre", "50": "esp"}


def _epoch(doc: Doc, value: str) -> None:
    if value.isdigit():
        try:
            doc["@timestamp"] = iso(datetime.fromtimestamp(int(value), UTC))
        except (ValueError, OverflowError, OSError):
            doc.setdefault("tags", []).append("_timestamp_invalid")


# --------------------------------------------------------------------------- %%MOD/SUB/N/TYPE

_HEAD = re.compile(r"%%(?:--)?([A-Z][A-Z0-9_]{1,15})/([\w\-]{1,32})/(\d)/([A-Z]{2,16})(?:\(\w\))?:\s?")
_ID_NAME = re.compile(r"\((\d{1,12})\)(.*)", re.S)
_HEX_IP = re.compile(r"4-([0-9a-fA-F]{8})$")
_KINDS = {"IPS": "ips", "DPX": "ips", "WAF": "waf", "FW": "firewall", "UAG": "firewall", "GUARD": "ips",
          "PROBE": "ids"}
_KEYS = {
    "source-ip": "source.ip", "destination-ip": "destination.ip", "source-port": "source.port",
    "destination-port": "destination.port", "user-name": "user.name", "host-ip": "source.ip",
    "ifname-inside": "observer.ingress.interface.name", "ifname-outside": "observer.egress.interface.name",
    "src-mac": "source.mac", "dst-mac": "destination.mac", "md5": "file.hash.md5", "file-name": "file.name",
    "url": "url.original", "attack-type": "rule.category", "policy-name": "rule.ruleset", "host": "url.domain",
    "mail-sender": "email.from.address", "mail-receiver": "email.to.address", "event": "event.action",
    "event-type": "event.action", "SIP1": "source.ip", "DIP1": "destination.ip", "SPort1": "source.port",
    "DPort1": "destination.port", "IP address": "destination.ip", "Sub-type": "rule.name",
    "Traffic Type": "rule.name", "Severity": "log.level", "virus-name": "rule.name",
}  # fmt: skip


def sniff_percent(body: str) -> bool:
    """DPtech `%%--IPS/DEVM/4/SYSLOG(l): …` / `%%UAG/AV/3/DATALOG(l): …` (not H3C's `%%10…`)."""
    at = body.find("%%", 0, 80)
    return at >= 0 and _HEAD.match(body, at) is not None


def _pairs(text: str) -> dict[str, str]:
    """`key(NN):value;` and `key:value;``` records, keys without their (NN) codes."""
    out: dict[str, str] = {}
    for part in re.split(r";(?:``)?\s?", text):
        key, sep, value = part.partition(":")
        if not sep:
            continue
        key = re.sub(r"\(\d{1,4}\)$", "", key.strip())
        if key and len(key) <= 40 and key not in out:
            out[key] = value.strip()
    return out


@register_message("dptech_percent", sniff=sniff_percent, priority=30)
def parse_percent(body: str, doc: Doc, ctx: ParseContext) -> None:
    """DPtech `%%` logs: attack/AV/WAF data logs, operator logs, device syslog, anti-DDoS alarms."""
    at = body.find("%%", 0, 80)
    m = _HEAD.match(body, at) if at >= 0 else None
    if m is None:
        raise ParseError("dptech_head", "no %%MOD/SUB/N/TYPE head")
    mod, sub, level, log_kind = m.groups()
    if at:
        local_time(doc, body[:at], ctx, _TS)
    text = body[m.end():]
    pairs = _pairs(text)
    for key in ("source-ip", "destination-ip"):
        hx = _HEX_IP.match(pairs.get(key, ""))
        if hx:
            pairs[key] = ".".join(str(int(hx.group(1)[i : i + 2], 16)) for i in range(0, 8, 2))
    name = pairs.pop("attack-name", None) or pairs.pop("av-name", None)
    proto_name = pairs.pop("protocol-name", None)
    apply_fields(doc, pairs, extra=_KEYS)
    for value, id_field, name_field in ((name, "rule.id", "rule.name"), (proto_name, None, "network.protocol")):
        if not value:
            continue
        idm = _ID_NAME.match(value)
        label = idm.group(2).strip() if idm else value
        if id_field and idm:
            set_path(doc, id_field, idm.group(1))
        set_path(doc, name_field, label.lower() if name_field == "network.protocol" else label)
    proto = pairs.get("ip-proto-id") or pairs.get("Protocol")
    if proto in _PROTO_NUM:
        set_path(doc, "network.transport", _PROTO_NUM[proto])
    elif pairs.get("basic-protocol"):
        set_path(doc, "network.transport", pairs["basic-protocol"].lower())
    if "time" in pairs:
        local_time(doc, text[text.find("time:"):], ctx, _TS)
    set_path(doc, "event.code", f"{mod}/{sub}/{level}/{log_kind}")
    set_path(doc, "log.level", level)
    # The header's level is a syslog level (0 for a Ping of Death blocked, 3 for a worm, 4 for a CPU
    # alarm, 6 for a cold start). The anti-DDoS alarms' Severity (Red) has no scale we can tell.
    set_severity(doc, level, SYSLOG_SEVERITY)
    kind = _KINDS.get(mod, "ips")
    action = get_path(doc, "event.action")
    if isinstance(action, str):
        set_path(doc, "event.action", action.lower())
    if log_kind == "OPERLOG":
        login = re.search(r"logged (in|out)|登录|退出", text)
        if get_path(doc, "event.action") is None:
            set_path(doc, "event.action", "logout" if login and login.group(0) in ("logged out", "退出") else
                     "login" if login else "operation")
        # error-code 0 is no error: the corpus has it on "logged in" and on "超时退出。 result: Success.";
        # any other code is an error.
        code = pairs.get("error-code")
        if code is not None:
            set_path(doc, "event.outcome", "success" if code == "0" else "failure")
        category, etype, alert = (["authentication"], ["start"], False) if login else (["configuration"], ["change"], False)
    elif log_kind in ("DATALOG", "SRVLOG", "ALARM", "TRAFFIC"):
        malware = sub.startswith("AV")
        if sub == "WEBPAGE-DEFEND":
            category = ["web", "intrusion_detection"]
        else:
            category = ["malware", "intrusion_detection", "network"] if malware else ["intrusion_detection", "network"]
        etype, alert = ["info"], True
        if get_path(doc, "event.action") in ("block", "drop"):
            etype = ["denied"]
    else:
        category, etype, alert = ["host"], ["info"], False
        if get_path(doc, "event.action") is None:
            set_path(doc, "event.action", sub.lower())
    finish_event(doc, body, VENDOR, mod.lower(), kind, mod.lower(), category, etype, alert)


# --------------------------------------------------------------------------- firewall pipe records

_FW = re.compile(r"1 (\S{1,64}) .{10,24}? FW \d{1,12} (NAT444|POLICY):(\w{1,32}) (.*)", re.S)


def sniff_fw_pipe(body: str) -> bool:
    """DPtech firewall session/policy records: `1 <ip> <date> FW <n> POLICY:Deny 17|ip|port|…`."""
    return body.startswith("1 ") and (" POLICY:" in body[:80] or " NAT444:" in body[:80]) and _FW.match(body) is not None


@register_message("dptech_fw_pipe", sniff=sniff_fw_pipe, priority=30)
def parse_fw_pipe(body: str, doc: Doc, ctx: ParseContext) -> None:
    """DPtech firewall policy-deny and NAT444 session records."""
    m = _FW.match(body)
    if m is None:
        raise ParseError("dptech_fw_shape", "not a DPtech FW record")
    dev, kind, verdict, rest = m.groups()
    ip = valid_ip(dev)
    if ip:
        set_path(doc, "observer.ip", ip)
    f = rest.strip().split("|")
    if kind == "POLICY" and len(f) >= 5:
        set_path(doc, "network.transport", _PROTO_NUM.get(f[0], f[0]))
        for idx, field in ((1, "source.ip"), (3, "destination.ip")):
            if valid_ip(f[idx]):
                set_path(doc, field, valid_ip(f[idx]))
        for idx, field in ((2, "source.port"), (4, "destination.port")):
            if f[idx].isdigit():
                set_path(doc, field, int(f[idx]))
        if len(f) >= 7:
            set_path(doc, "observer.ingress.interface.name", f[5])
            set_path(doc, "observer.egress.interface.name", f[6])
    elif kind == "NAT444" and len(f) >= 8:
        _epoch(doc, f[0])
        for idx, field in ((2, "source.ip"), (3, "source.nat.ip"), (5, "destination.ip")):
            if valid_ip(f[idx]):
                set_path(doc, field, valid_ip(f[idx]))
        if f[4].isdigit():
            set_path(doc, "source.nat.port", int(f[4]))
        if f[6].isdigit():
            set_path(doc, "destination.port", int(f[6]))
        set_path(doc, "network.transport", _PROTO_NUM.get(f[7], f[7]))
    set_path(doc, "event.action", verdict.lower())
    etype = ["connection", "denied"] if verdict.lower() == "deny" else ["connection"]
    finish_event(doc, body, VENDOR, "firewall", "firewall", kind.lower(), ["network"], etype)


# --------------------------------------------------------------------------- APT sensor

def sniff_apt(body: str) -> bool:
    """DPtech APT sensor: `dname="…" module="…" severity="…" type="…" … sid="…"`."""
    head = body[:200]
    return head.startswith('dname="') and ' module="' in head and ' type="' in head and ' sid="' in body[:400]


@register_message("dptech_apt", sniff=sniff_apt, priority=30)
def parse_apt(body: str, doc: Doc, ctx: ParseContext) -> None:
    """DPtech APT sensor alerts."""
    pairs = split_kv(body, "=")
    proto = pairs.pop("protocol", None)
    apply_fields(doc, pairs, extra={"msg": "rule.name", "sid": "rule.id", "class": "rule.category",
                                    "dname": "observer.hostname"})
    if proto:
        set_path(doc, "network.transport", proto.lower())
    if pairs.get("time"):
        try:
            doc["@timestamp"] = iso(datetime.strptime(pairs["time"], "%Y-%m-%dT%H:%M:%S.%f%z"))
        except ValueError:
            local_time(doc, pairs["time"], ctx, _TS)
    set_path(doc, "event.action", pairs.get("type") or "alert")
    # severity: a syslog level name (debug for an ICMP ping request); prio (1 for that same ping) has
    # no scale we can tell.
    set_severity(doc, pairs.get("severity"), SYSLOG_SEVERITY)
    finish_event(doc, body, VENDOR, "apt", "ids", "apt", ["intrusion_detection", "network"], ["info"], alert=True)


# --------------------------------------------------------------------------- OSP bastion

_OSP_USER = re.compile(r"通过账号\[?([^\]\s)（(]{1,64})")
_OSP_LEVEL = re.compile(r"日志级别：\[(\w{1,16})\]")


def sniff_osp(body: str) -> bool:
    """DPtech OSP bastion: Chinese sentences ending in `日志级别：[…]`."""
    return (body.startswith("[") or body.startswith("{auth}")) and "日志级别：[" in body[-80:]


@register_message("dptech_osp", sniff=sniff_osp, priority=30)
def parse_osp(body: str, doc: Doc, ctx: ParseContext) -> None:
    """DPtech OSP bastion alerts (command violations, thresholds) and operator actions."""
    um = _OSP_USER.search(body)
    if um:
        set_path(doc, "user.name", um.group(1))
    lm = _OSP_LEVEL.search(body)
    if lm:
        set_path(doc, "log.level", lm.group(1).lower())
        set_severity(doc, lm.group(1), SYSLOG_SEVERITY)  # 日志级别：[Alert] / [INFO]: syslog level names
    local_time(doc, body, ctx, _TS)
    cmd = re.search(r"越权命令：(\S{1,256}?)。", body)
    via = re.search(r"通过(\d{1,3}(?:\.\d{1,3}){3})做", body)
    if via:
        set_path(doc, "source.ip", via.group(1))
    server = re.search(r"服务器\[([^\]]{1,64})\]", body)
    if server and valid_ip(server.group(1)):
        set_path(doc, "host.ip", [valid_ip(server.group(1))])
    if cmd:
        set_path(doc, "process.command_line", cmd.group(1))
        set_path(doc, "event.action", "command_violation")
        finish_event(doc, body, VENDOR, "osp", "bastion", "osp", ["process"], ["denied"], alert=True)
    elif "使用率" in body:
        set_path(doc, "event.action", "threshold_exceeded")
        finish_event(doc, body, VENDOR, "osp", "bastion", "osp", ["host"], ["info"], alert=True)
    else:
        op = re.search(r"做(\w{1,16})\[", body)
        set_path(doc, "event.action", op.group(1) if op else "operation")
        if "操作成功" in body:
            set_path(doc, "event.outcome", "success")
        finish_event(doc, body, VENDOR, "osp", "bastion", "osp", ["iam"], ["change"])


# --------------------------------------------------------------------------- DSP database audit

def sniff_dsp(body: str) -> bool:
    """DPtech DSP database audit: `host: 风险等级: …$ 源IP : …$ …`."""
    head = body[:100]
    return "风险等级" in head and "$ 源IP" in head


@register_message("dptech_dsp", sniff=sniff_dsp, priority=30)
def parse_dsp(body: str, doc: Doc, ctx: ParseContext) -> None:
    """DPtech DSP database audit records."""
    pairs: dict[str, str] = {}
    for part in body.split("$"):
        key, sep, value = part.partition(":")
        if sep:
            pairs.setdefault(key.strip().split(" ")[-1], value.strip())
    apply_fields(doc, pairs, extra={"实例名": "soc.device.instance", "SQL操作": "soc.device.sql"})
    tm = re.search(r"时间:\s*(\d{4})-(\d{2})-(\d{2}):(\d{2})-(\d{2})-(\d{2})", body)
    if tm:
        local_time(doc, "{}-{}-{} {}:{}:{}".format(*tm.groups()), ctx, _TS)
    set_path(doc, "event.action", "sql_audit")
    risk = re.search(r"风险等级:\s?([^$\s]{1,8})", body)  # `host: 风险等级: 高$`: 高, 中, 低
    set_severity(doc, risk.group(1) if risk else None)
    finish_event(doc, body, VENDOR, "dsp", "dbaudit", "dsp", ["database"], ["access"])


# --------------------------------------------------------------------------- XDR agent

_XDR = re.compile(r"([A-Z][A-Za-z]{2,40});;(\d{1,2});;(\d{10});;([^;]{1,64});;([0-9a-f]{16,64});;")


def sniff_xdr(body: str) -> bool:
    """DPtech XDR agent: `ProcessBasicInfo;;2;;<epoch>;;<ip>;;<hash>;;k=v;;…`."""
    return ";;" in body[:60] and _XDR.match(body) is not None


@register_message("dptech_xdr", sniff=sniff_xdr, priority=30)
def parse_xdr(body: str, doc: Doc, ctx: ParseContext) -> None:
    """DPtech XDR endpoint process, file, network, user and response records."""
    m = _XDR.match(body)
    if m is None:
        raise ParseError("dptech_xdr_shape", "not an XDR record")
    kind, _level, epoch, host_ip, agent = m.groups()
    _epoch(doc, epoch)
    if valid_ip(host_ip):
        set_path(doc, "host.ip", [valid_ip(host_ip)])
    set_path(doc, "agent.id", agent)
    pairs: dict[str, str] = {}
    for part in body[m.end():].split(";;"):
        key, sep, value = part.partition("=")
        if sep and key.strip():
            pairs.setdefault(key.strip(), value.strip().strip('"').strip())
    extra = {
        "pid_name": "process.name", "proc_path": "process.executable", "cmd": "process.command_line",
        "machineName": "host.name", "user": "user.name", "file_path": "file.path", "md5": "file.hash.md5",
        "src_ip": "source.ip", "src_port": "source.port", "dest_ip": "destination.ip", "dest_port": "destination.port",
        "protocol": "network.transport", "user_name": "user.name", "mac": "host.mac", "pid": "process.entity_id",
        "action_result": "event.outcome",
    }  # fmt: skip
    apply_fields(doc, pairs, extra=extra)
    outcome = get_path(doc, "event.outcome")
    if isinstance(outcome, str):
        set_path(doc, "event.outcome", outcome.lower() if outcome.lower() in ("success", "failure") else "unknown")
    cats = {"ProcessBasicInfo": ["process"], "FileActionsInfo": ["file"], "NetworkActionsInfo": ["host", "network"],
            "UserInfo": ["iam"], "ActionRuleReport": ["host"]}
    set_path(doc, "event.action", kind)
    finish_event(doc, body, VENDOR, "xdr", "edr", kind, cats.get(kind, ["host"]), ["info"])
