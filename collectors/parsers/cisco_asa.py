"""Cisco ASA (and FTD/PIX/FWSM) syslog messages `%ASA-<severity>-<id>: text` to ECS.

Message layouts are those of "Cisco Secure Firewall ASA Series Syslog Messages". Connection
messages name the initiator first for inbound and last for outbound connections; source.* is
always the initiator.
"""

from __future__ import annotations

import re

from soc.model import set_path

from . import register_message
from .base import Doc, ParseContext, ParseError
from .kv import SYSLOG_SEVERITY, relate_ips, set_action, set_observer_dataset, set_severity, valid_ip

_HEAD = re.compile(r"%(ASA|FTD|PIX|FWSM)-(?:[A-Za-z_]{1,20}-)?([0-7])-(\d{6}): ?")
_LEVELS = ("emergency", "alert", "critical", "error", "warning", "notification", "informational", "debugging")
# interface:address/port (address may be IPv6; the interface never holds a colon).
_EP = r"([^\s:]{1,64}):([^\s/(]{1,64})(?:/(\d{1,5}))?"
_MAPPED = r"(?: \(([^\s/]{1,64})/(\d{1,5})\))?(?:\([^)]{0,128}\))?"

_M106023 = re.compile(
    rf"Deny (\S{{1,16}}) src {_EP} dst {_EP}(?: \(type \d+, code \d+\))? by access-group \"([^\"]{{0,128}})\""
)
_M106100 = re.compile(
    r"access-list (\S{1,128}) (permitted|denied|est-allowed) (\S{1,16}) ([^\s/]{1,64})/([^\s(]{1,64})\((\d{1,5})\)"
    r"(?:\([^)]{0,128}\))? -> ([^\s/]{1,64})/([^\s(]{1,64})\((\d{1,5})\)"
)
_M302013 = re.compile(
    rf"Built (inbound|outbound) (TCP|UDP) connection (\d+) for {_EP}{_MAPPED} to {_EP}{_MAPPED}"
)
_M302014 = re.compile(
    rf"Teardown (TCP|UDP) connection (\d+) for {_EP}(?:\([^)]{{0,128}}\))? to {_EP}(?:\([^)]{{0,128}}\))?"
    r"(?: duration (\S{1,16}) bytes (\d{1,20}))?(?: (.{0,256}))?"
)
_M305011 = re.compile(rf"Built (dynamic|static) (TCP|UDP|ICMP) translation from {_EP} to {_EP}")
_M113004 = re.compile(r"AAA user (\w+) Successful : server = (\S+) : user = (.{1,256}?)\s*$")
_M113005 = re.compile(
    r"AAA user (\w+) Rejected : reason = (.{1,128}?) : server = (\S+) : user = (.{1,256}?)"
    r"(?: : user IP = (\S+))?\s*$"
)
_M113015 = re.compile(
    r"AAA user authentication Rejected : reason = (.{1,128}?) : local database : user = (.{1,256}?)"
    r"(?: : user IP = (\S+))?\s*$"
)
_M6050045 = re.compile(r"Login (denied|permitted) from ([^\s/]{1,64})/(\d{1,5}) to ([^\s:]{1,64}):([^\s/]{1,64})/(\S{1,16}) for user \"([^\"]{0,256})\"")
_M733100 = re.compile(
    r"\[\s*(.{1,128}?)\s*\] drop rate-(\d) exceeded\. Current burst rate is (\d+) per second, max configured rate is (\d+);"
    r" Current average rate is (\d+) per second, max configured rate is (\d+); Cumulative total count is (\d+)"
)


def sniff_asa(body: str) -> bool:
    """A %ASA-n-nnnnnn: (or FTD/PIX/FWSM) tag near the start."""
    return "%" in body[:100] and _HEAD.search(body[:100]) is not None


def _endpoint(doc: Doc, side: str, iface: str | None, addr: str, port: str | None) -> None:
    ip = valid_ip(addr)
    if ip is not None:
        set_path(doc, f"{side}.ip", ip)
    elif addr:
        set_path(doc, f"{side}.address", addr)
    if port and port.isdigit():
        set_path(doc, f"{side}.port", int(port))
    if iface:
        set_path(doc, f"observer.{'ingress' if side == 'source' else 'egress'}.interface.name", iface)


def _user(doc: Doc, name: str) -> None:
    name = name.strip()
    if name and name not in ("*****", "?"):
        set_path(doc, "user.name", name)
        set_path(doc, "related.user", [name])


def _connection(doc: Doc, msg_id: str, text: str) -> bool:
    """Firewall connection messages: 106023, 106100, 302013-302016, 305011."""
    if msg_id == "106023":
        m = _M106023.search(text)
        if m is None:
            return False
        proto, si, sa, sp, di, da, dp, acl = m.groups()
        _endpoint(doc, "source", si, sa, sp)
        _endpoint(doc, "destination", di, da, dp)
        set_path(doc, "network.transport", proto.lower())
        set_path(doc, "rule.name", acl)
        set_action(doc, "deny", ["network"], ["connection", "denied"])
        return True
    if msg_id == "106100":
        m = _M106100.search(text)
        if m is None:
            return False
        acl, verdict, proto, si, sa, sp, di, da, dp = m.groups()
        _endpoint(doc, "source", si, sa, sp)
        _endpoint(doc, "destination", di, da, dp)
        set_path(doc, "network.transport", proto.lower())
        set_path(doc, "rule.name", acl)
        denied = verdict == "denied"
        set_action(doc, verdict, ["network"], ["connection", "denied" if denied else "allowed"])
        return True
    if msg_id in ("302013", "302015"):
        m = _M302013.search(text)
        if m is None:
            return False
        direction, proto, conn = m.group(1), m.group(2), m.group(3)
        first = m.group(4, 5, 6, 7, 8)
        second = m.group(9, 10, 11, 12, 13)
        src, dst = (first, second) if direction == "inbound" else (second, first)
        _endpoint(doc, "source", src[0], src[1], src[2])
        _endpoint(doc, "destination", dst[0], dst[1], dst[2])
        for side, ep in (("source", src), ("destination", dst)):
            nat_ip = valid_ip(ep[3] or "")
            if nat_ip is not None and (nat_ip != ep[1] or ep[4] != ep[2]):
                set_path(doc, f"{side}.nat.ip", nat_ip)
                set_path(doc, f"{side}.nat.port", int(ep[4]))
        set_path(doc, "network.transport", proto.lower())
        set_path(doc, "network.direction", direction)
        set_path(doc, "network.session_id", conn)
        set_action(doc, "built-connection", ["network"], ["connection", "start", "allowed"])
        return True
    if msg_id in ("302014", "302016"):
        m = _M302014.search(text)
        if m is None:
            return False
        proto, conn, si, sa, sp, di, da, dp, duration, nbytes, reason = m.groups()
        _endpoint(doc, "source", si, sa, sp)
        _endpoint(doc, "destination", di, da, dp)
        set_path(doc, "network.transport", proto.lower())
        set_path(doc, "network.session_id", conn)
        if nbytes:
            set_path(doc, "network.bytes", int(nbytes))
        if reason:
            set_path(doc, "event.reason", reason.strip())
        if duration:
            parts = duration.split(":")
            if len(parts) == 3 and all(p.isdigit() for p in parts):
                secs = int(parts[0]) * 3600 + int(parts[1]) * 60 + int(parts[2])
                set_path(doc, "event.duration", secs * 1_000_000_000)
        set_action(doc, "teardown-connection", ["network"], ["connection", "end"])
        return True
    if msg_id == "305011":
        m = _M305011.search(text)
        if m is None:
            return False
        _kind, proto, si, sa, sp, ti, ta, tp = m.groups()
        _endpoint(doc, "source", si, sa, sp)
        nat = valid_ip(ta)
        if nat is not None:
            set_path(doc, "source.nat.ip", nat)
        if tp and tp.isdigit():
            set_path(doc, "source.nat.port", int(tp))
        set_path(doc, "network.transport", proto.lower())
        set_action(doc, "built-translation", ["network"], ["connection", "start"])
        return True
    return False


def _auth(doc: Doc, msg_id: str, text: str) -> bool:
    """AAA and management login messages: 113004, 113005, 113015, 605004, 605005."""
    if msg_id == "113004":
        m = _M113004.search(text)
        if m is None:
            return False
        kind, server, user = m.groups()
        _user(doc, user)
        set_path(doc, "server.address", server)
        set_action(doc, f"aaa-user-{kind.lower()}", ["authentication"], ["info"], "success")
        return True
    if msg_id == "113005":
        m = _M113005.search(text)
        if m is None:
            return False
        kind, reason, server, user, user_ip = m.groups()
        _user(doc, user)
        set_path(doc, "server.address", server)
        set_path(doc, "event.reason", reason)
        if user_ip and valid_ip(user_ip):
            set_path(doc, "source.ip", valid_ip(user_ip))
        set_action(doc, f"aaa-user-{kind.lower()}", ["authentication"], ["info"], "failure")
        return True
    if msg_id == "113015":
        m = _M113015.search(text)
        if m is None:
            return False
        reason, user, user_ip = m.groups()
        _user(doc, user)
        set_path(doc, "event.reason", reason)
        if user_ip and valid_ip(user_ip):
            set_path(doc, "source.ip", valid_ip(user_ip))
        set_action(doc, "aaa-user-authentication", ["authentication"], ["info"], "failure")
        return True
    if msg_id in ("605004", "605005"):
        m = _M6050045.search(text)
        if m is None:
            return False
        verdict, sa, sp, di, da, service, user = m.groups()
        _endpoint(doc, "source", None, sa, sp)
        _endpoint(doc, "destination", di, da, None)
        set_path(doc, "network.protocol", service.lower())
        _user(doc, user)
        ok = verdict == "permitted"
        set_action(doc, f"login-{verdict}", ["authentication"], ["start"], "success" if ok else "failure")
        return True
    return False


@register_message("cisco_asa", sniff=sniff_asa, priority=20)
def parse_cisco_asa(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Read a Cisco ASA/FTD syslog message into ECS fields of doc."""
    head = _HEAD.search(body[:200])
    if head is None:
        raise ParseError("asa_no_tag", "no %ASA-n-nnnnnn: tag")
    product, severity, msg_id = head.groups()
    text = body[head.end() :].rstrip("\r\n")
    set_observer_dataset(doc, "cisco", product.lower(), "firewall", product.lower())
    set_path(doc, "event.code", msg_id)
    set_path(doc, "event.severity", int(severity))
    set_path(doc, "log.level", _LEVELS[int(severity)])
    set_severity(doc, severity, SYSLOG_SEVERITY)  # %ASA-<0-7>-: a syslog level
    set_path(doc, "message", text)

    understood = _connection(doc, msg_id, text) or _auth(doc, msg_id, text)
    if not understood and msg_id == "733100":
        m = _M733100.search(text)
        if m is not None:
            set_path(doc, "event.kind", "alert")
            set_path(doc, "rule.name", m.group(1))
            set_path(doc, "rule.id", "733100")
            set_action(doc, "drop-rate-exceeded", ["intrusion_detection", "network"], ["info"])
            understood = True
    if not understood and msg_id in _KNOWN:
        doc.setdefault("tags", []).append("_parse_partial")
    relate_ips(doc, text)


_KNOWN = frozenset({"106023", "106100", "302013", "302014", "302015", "302016", "305011", "113004",
                    "113005", "113015", "605004", "605005", "733100"})  # fmt: skip
