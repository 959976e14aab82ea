"""Topsec TopIDP / TopSentry / TA audit logs (`vendor="topsec" dev_type="N" dev_name=... recorder=...`).

The header is the same on the IPS (NGIDP), the IDS (TopSentry), the network audit (TA-NET) and
the industrial audit (TopIAS/TopIDA); `dev_type` and `recorder` tell them apart: dev_type 2 is
TopSentry, 6 TA-NET, 16 TopIAS/TopIDA (recorder TAW), the others NGIDP. `recorder="attack"` lines
are signature hits (rule = signature id, msg = its name); `audit_*` lines are protocol audit
records; `time` is the device's local time (it matches the time stamped in the capture file name).
"""

from __future__ import annotations

import re

from soc.model import set_path

from . import register_message, register_product
from .base import Doc, ParseContext, ParseError
from .kv import apply_fields, field_time, relate_ips, relate_user, set_observer_dataset, split_kv_with_empty

_SNIFF = re.compile(r'vendor="(?:topsec|天融信)"\s+dev_type="\d{1,3}"', re.IGNORECASE)

EXTRA: dict[str, str] = {
    "dev_name": "observer.name",
    "dev_ip": "observer.ip",
    "i_srcip": "source.ip",
    "i_dstip": "destination.ip",
    "i_srcport": "source.port",
    "i_dstport": "destination.port",
    "s_srcmac": "source.mac",
    "s_dstmac": "destination.mac",
    "sdev": "observer.ingress.interface.name",
    "ddev": "observer.egress.interface.name",
    "rule": "rule.id",
    "cve": "vulnerability.id",
    "app": "network.protocol",
    "application": "network.protocol",
    "client": "user_agent.original",
    "file": "file.name",
    "file_name": "file.name",
    "file_size": "file.size",
    "username": "user.name",
    "user_name": "user.name",
    "status_code": "http.response.status_code",
    "path": "url.path",
    "authority": "url.domain",
    "referer": "http.request.referrer",
    "x_forwarded_for": "soc.device.x_forwarded_for",
    "sender": "email.from.address",
    "receiver": "email.to.address",
    "subject": "email.subject",
    "msg_from": "email.from.address",
    "msg_to": "email.to.address",
    "dbtype": "soc.device.dbtype",
    "dbname": "soc.device.dbname",
    "command": "process.command_line",
    "s_protocol": "network.protocol",
    "level": "log.level",
    "host_name": "host.name",
}
_PROTO = {"2": "tcp", "3": "udp", "4": "icmp"}  # the NGIDP protocol code (TCP/UDP/ICMP flows)
_SKIP = frozenset({"vendor", "dev_type", "time", "index", "recorder", "type", "sub_type", "sid", "proto",
                   "op", "msg", "appendix", "req_header", "req_body", "resp_header", "resp_body",
                   "fingerprint", "password", "result", "version", "sipv6", "dipv6", "vid", "repeat",
                   "method", "response_code", "x_real_ip", "direction", "app_pro", "sgeo", "dgeo", "server"})  # fmt: skip


def _product(pairs: dict[str, str]) -> tuple[str, str]:
    """(product, observer.type) from dev_type and recorder."""
    dev_type = pairs.get("dev_type", "")
    if pairs.get("recorder", "").upper() == "TAW" or dev_type in ("6", "16"):
        return ("ta-net", "audit") if dev_type == "6" else ("topida", "audit")
    if dev_type == "2":
        return "topsentry", "ids"
    return "ngidp", "ips"


@register_message("topsec_idp", sniff=lambda body: _SNIFF.match(body[:48]) is not None, priority=20)
def parse_idp_pairs(body: str, doc: Doc, ctx: ParseContext, product: tuple[str, str] | None = None) -> None:
    """Topsec TopIDP/TopSentry/TA audit key="value" log; `product` forces (product, observer.type)."""
    # The base64 request/response captures at the end are skipped: do not tokenize them.
    head = body.split(' req_header="', 1)[0]
    pairs = split_kv_with_empty(head)
    if "dev_type" not in pairs or "vendor" not in pairs:
        raise ParseError("not_topsec_idp", "no vendor=... dev_type=... header")
    name, kind = _product(pairs)
    if product is not None:
        name, kind = product
    set_observer_dataset(doc, "topsec", name, kind, name)
    field_time(doc, pairs.get("time", ""), ctx.timezone)
    recorder = pairs.get("recorder", "")
    fields = {k: v for k, v in pairs.items() if k not in _SKIP and v.strip() not in ("", "null", "NULL")}
    if fields.get("status_code", "").split(" ")[0].isdigit():
        fields["status_code"] = fields["status_code"].split(" ")[0]
    apply_fields(doc, fields, extra=EXTRA)
    proto = pairs.get("proto", "")
    if proto in _PROTO:
        set_path(doc, "network.transport", _PROTO[proto])
    elif proto.isdigit() and recorder == "pf":
        set_path(doc, "network.iana_number", proto)
    elif proto:
        set_path(doc, "network.transport", proto.lower())
    method = pairs.get("method", "")
    if method and method.isalpha() and method.isupper():
        set_path(doc, "http.request.method", method)
    code = pairs.get("response_code", "").split(" ")[0]
    if code.isdigit():
        set_path(doc, "http.response.status_code", int(code))
    set_path(doc, "event.provider", recorder)
    cats: list[str]
    types = ["info"]
    if recorder == "attack":
        set_path(doc, "event.kind", "alert")
        if pairs.get("msg"):
            set_path(doc, "rule.name", pairs["msg"])
        if pairs.get("appendix"):
            set_path(doc, "soc.device.appendix", pairs["appendix"])
        cats = ["intrusion_detection", "network"]
        # op: 1 = detected/logged, 2 = blocked (IPS verdict code).
        set_path(doc, "event.action", {"1": "alert", "2": "block"}.get(pairs.get("op", ""), pairs.get("op") or "alert"))
        types = ["denied"] if pairs.get("op") == "2" else ["info"]
    elif recorder in ("urlfilter", "securitypolicy", "pf") or recorder.startswith("audit_") or recorder == "TAW":
        cats, types = ["network"], ["connection"]
        if pairs.get("appendix"):
            set_path(doc, "url.original", pairs["appendix"].strip("()"))
        action = pairs.get("action") or pairs.get("op")
        if action and not action.isdigit():
            set_path(doc, "event.action", action.lower())
            if action.lower() in ("permit", "accept", "allow"):
                types = ["allowed"]
            elif action.lower() in ("deny", "block", "drop"):
                types = ["denied"]
    elif recorder in ("admin_config", "config", "admin"):
        cats, types = ["configuration"], ["change"]
    else:
        cats = ["host"]
        if pairs.get("op"):
            set_path(doc, "event.action", pairs["op"].lower())
    if pairs.get("msg") and recorder != "attack":
        set_path(doc, "soc.device.msg", pairs["msg"])
    set_path(doc, "event.category", cats)
    set_path(doc, "event.type", types)
    desc = pairs.get("description", "") + pairs.get("msg", "")
    if "success" in desc:
        set_path(doc, "event.outcome", "success")
    elif "fail" in desc:
        set_path(doc, "event.outcome", "failure")
    relate_user(doc)
    relate_ips(doc, body)


# A source configured as a TopSentry IDS.
register_product("topsec_idp_ids", parse_idp_pairs, ("topsentry", "ids"))
