"""Netfilter (iptables/nftables LOG target, UFW, Ubiquiti EdgeOS) kernel log lines to ECS."""

from __future__ import annotations

import re
from datetime import datetime

from soc.model import get_path, iso, set_path

from . import register_message
from .base import Doc, ParseContext
from .kv import relate_ips, set_observer, valid_ip

TAG_TIMESTAMP_INVALID = "_timestamp_invalid"

# "IN=eth0 OUT= " is in every LOG-target line; truncated lines (a relay cut the start) keep
# at least "PROTO=TCP SPT=1 DPT=2".
_SNIFF = re.compile(r"(?:^|[\s\]:])IN=[\w.\-@]{0,32} OUT=|PROTO=\w{1,16} SPT=\d{1,5} DPT=\d")
_IN = re.compile(r"(?:^|(?<=[\s\]:]))IN=")
# A file-tail line with an ISO timestamp, which the envelope detection leaves bare:
# "2021-03-12T14:10:18Z Hostname kernel: ...".
_ISO_HEADER = re.compile(
    r"(?P<ts>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?) "
    r"(?P<host>[\w.\-]{1,255}) (?P<prog>[\w.\-/]{1,64})(?:\[(?P<pid>\d{1,10})\])?: ?"
)
# KEY=VALUE with possibly empty values ("OUT= MAC=..."): kv.split_kv would take the next pair
# as the value of an empty one, so netfilter's fixed upper-case keys are read here.
_PAIR = re.compile(r"(?<![^\s\]:])([A-Z][A-Z0-9_]{0,15})=(\S{0,1024})")
_UPTIME = re.compile(r"\[\s{0,12}\d{1,12}\.\d{1,9}\]\s?")
# Ubiquiti EdgeOS / UniFi: "[WAN_IN-2000-D]" = rule set, rule number, A(ccept)/D(rop)/R(eject).
_UBIQUITI = re.compile(r"\[(?P<name>[^\]\s]{1,128})-(?P<id>[\w]{1,32})-(?P<act>[ADR])\]")
_UBIQUITI_ACTIONS = {"A": "accept", "D": "drop", "R": "reject"}
_TOKEN = re.compile(r"[\s\-]+")
_DENY_WORDS = ("drop", "deny", "reject", "block", "denied", "refuse")
_ALLOW_WORDS = ("accept", "allow", "pass", "permit")
_ACTION_WORDS = _DENY_WORDS + _ALLOW_WORDS + ("log", "audit", "limit")
_FLAGS = frozenset("CWR ECE URG ACK PSH RST SYN FIN".split())
_PROTO_NAMES = {"icmpv6": "ipv6-icmp", "ipv6-icmp": "ipv6-icmp", "58": "ipv6-icmp", "1": "icmp",
                "6": "tcp", "17": "udp", "47": "gre", "50": "esp", "51": "ah", "132": "sctp"}
_FIELDS = {
    "SRC": "source.ip", "DST": "destination.ip", "SPT": "source.port", "DPT": "destination.port",
    "IN": "observer.ingress.interface.name", "OUT": "observer.egress.interface.name",
}
# Other LOG-target keys, under iptables.* as Elastic's iptables integration names them
# (integers where they are numbers).
_DEVICE_KEYS = {
    "LEN": "length", "TOS": "tos", "PREC": "precedence_bits", "TTL": "ttl", "ID": "id",
    "WINDOW": "tcp.window", "RES": "tcp.reserved_bits", "URGP": "tcp.urgent_pointer",
    "TYPE": "icmp.type", "CODE": "icmp.code", "SEQ": "icmp.seq", "TC": "ipv6.traffic_class",
    "HOPLIMIT": "ipv6.hop_limit", "FLOWLBL": "flow_label", "MARK": "mark",
    "PHYSIN": "input_device_physical", "PHYSOUT": "output_device_physical", "UID": "uid", "GID": "gid",
    "MTU": "icmp.mtu",
}
_INT_KEYS = frozenset({"LEN", "TTL", "ID", "WINDOW", "URGP", "TYPE", "CODE", "SEQ", "HOPLIMIT", "FLOWLBL", "UID", "GID", "MTU"})


def _sniff(body: str) -> bool:
    """A netfilter LOG line: "IN=... OUT=..." (or a truncated "PROTO=.. SPT=.. DPT=..")."""
    return _SNIFF.search(body[:400]) is not None


def _mac(text: str) -> tuple[str, str] | None:
    """MAC=dst(6 bytes):src(6 bytes):ethertype... -> (source.mac, destination.mac) in ECS form."""
    parts = text.split(":")
    if len(parts) < 12 or any(len(p) != 2 for p in parts[:12]):
        return None
    dst = "-".join(parts[0:6]).upper()
    src = "-".join(parts[6:12]).upper()
    return src, dst


def _action(prefix: str, doc: Doc) -> None:
    """event.action / event.type / rule.* from the LOG prefix the administrator chose."""
    u = _UBIQUITI.search(prefix)
    if u is not None:
        set_path(doc, "rule.name", u.group("name"))
        set_path(doc, "rule.id", u.group("id"))
        action = _UBIQUITI_ACTIONS[u.group("act")]
        set_path(doc, "observer.vendor", "ubiquiti")
        set_path(doc, "observer.product", "edgeos")
    else:
        words = [w for w in _TOKEN.split(prefix.strip(" []:").lower()) if w]
        action = words[-1] if words else ""
        if not any(k in action for k in _ACTION_WORDS):
            action = ""
    if not action:
        set_path(doc, "event.type", ["connection"])
        return
    set_path(doc, "event.action", action)
    if any(k in action for k in _DENY_WORDS):
        set_path(doc, "event.type", ["denied", "connection"])
        set_path(doc, "event.outcome", "failure")
    elif any(k in action for k in _ALLOW_WORDS):
        set_path(doc, "event.type", ["allowed", "connection"])
        set_path(doc, "event.outcome", "success")
    else:
        set_path(doc, "event.type", ["connection"])


def _looks_like_prefix(app: str) -> bool:
    """Whether a syslog "app name" is really a LOG prefix ("DENY:", "FW-DROP:")."""
    low = app.lower()
    return app != "kernel" and (app.isupper() or any(w in low for w in _ACTION_WORDS))


def _header(body: str, doc: Doc, ctx: ParseContext) -> str:
    """Strip (and read) an ISO-timestamped syslog header of a bare line; return the rest."""
    m = _ISO_HEADER.match(body)
    if m is None:
        return body
    ts = m.group("ts")
    try:
        t = datetime.fromisoformat(ts[:-1] + "+00:00" if ts.endswith("Z") else ts)
        set_path(doc, "@timestamp", iso(t if t.tzinfo is not None else t.replace(tzinfo=ctx.timezone)))
    except ValueError:
        doc.setdefault("tags", []).append(TAG_TIMESTAMP_INVALID)
    set_path(doc, "host.hostname", m.group("host"))
    set_path(doc, "host.name", m.group("host"))
    set_path(doc, "process.name", m.group("prog"))
    set_path(doc, "log.syslog.appname", m.group("prog"))
    if m.group("pid"):
        set_path(doc, "process.pid", int(m.group("pid")))
    return body[m.end():]


@register_message("iptables", sniff=_sniff, priority=45)
def enrich_iptables(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Read a netfilter LOG line into ECS fields of `doc`, in place."""
    text = _header(body, doc, ctx)
    set_observer(doc, "netfilter", "iptables", "firewall")
    set_path(doc, "event.module", "iptables")
    set_path(doc, "event.dataset", "iptables.log")
    set_path(doc, "event.kind", "event")
    set_path(doc, "event.category", ["network"])

    m = _IN.search(text)
    prefix = text[: m.start()] if m is not None else ""
    uptime = _UPTIME.match(prefix)
    if uptime is not None:
        prefix = prefix[uptime.end():]
    if not prefix.strip():
        # "DENY: IN=..." without a host: the envelope read the LOG prefix as the app name.
        app = get_path(doc, "process.name")
        if m is not None and isinstance(app, str) and _looks_like_prefix(app):
            prefix = app
            process = doc.get("process")
            if isinstance(process, dict):
                process.pop("name", None)
                if not process:
                    doc.pop("process")
            syslog = get_path(doc, "log.syslog")
            if isinstance(syslog, dict):
                syslog.pop("appname", None)
                if not syslog:
                    doc["log"].pop("syslog")
                    if not doc["log"]:
                        doc.pop("log")
    prefix = prefix.strip()
    if prefix:
        set_path(doc, "soc.device.log_prefix", prefix)
    _action(prefix, doc)

    kv_text = text[m.start():] if m is not None else text
    # An ICMP error quotes the offending packet in brackets: its addresses and ports are not
    # this packet's (they still go to related.ip below).
    outer, _, inner = kv_text.partition(" [")
    pairs: dict[str, str] = {}
    for key, value in _PAIR.findall(outer):
        pairs.setdefault(key, value)
    if inner:
        set_path(doc, "iptables.icmp.quoted_packet", inner.rstrip(" ]"))
    for key, value in pairs.items():
        field = _FIELDS.get(key)
        if field is not None:
            if not value:
                continue
            if field.endswith(".ip"):
                ip = valid_ip(value)
                if ip is not None:
                    set_path(doc, field, ip)
                    set_path(doc, field[:-3] + ".address", ip)
            elif field.endswith(".port"):
                if value.isdigit() and int(value) <= 65535:
                    set_path(doc, field, int(value))
            else:
                set_path(doc, field, value)
        elif key == "PROTO":
            proto = value.lower()
            set_path(doc, "network.transport", _PROTO_NAMES.get(proto, proto))
        elif key == "MAC":
            macs = _mac(value)
            if macs is not None:
                set_path(doc, "source.mac", macs[0])
                set_path(doc, "destination.mac", macs[1])
            elif value:
                set_path(doc, "iptables.mac", value)
        elif key in _DEVICE_KEYS and value:
            typed = int(value) if key in _INT_KEYS and value.isdigit() else value
            if key in _INT_KEYS and not isinstance(typed, int):
                continue
            set_path(doc, f"iptables.{_DEVICE_KEYS[key]}", typed)
    src = get_path(doc, "source.ip")
    if isinstance(src, str):
        set_path(doc, "network.type", "ipv6" if ":" in src else "ipv4")
    flags = [t for t in outer.split() if t in _FLAGS]
    if flags:
        set_path(doc, "iptables.tcp.flags", flags)
    if " DF " in outer or outer.endswith(" DF"):
        set_path(doc, "iptables.fragment_flags", ["DF"])
    relate_ips(doc, kv_text)
