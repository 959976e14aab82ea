"""Antiy (安天) 智甲 antivirus console syslog to ECS: `SERVERADDRESS='…',SOURCE='PCLOUD',…,LOGTYPE='…'`."""

from __future__ import annotations

import re

from soc.model import set_path

from . import register_message
from .base import Doc, ParseContext
from .kv import classify_event, exact_local_time, relate_ips, valid_ip

_PAIR = re.compile(r"(\w{1,40})='([^']{0,4096})'")


def sniff_antiy(body: str) -> bool:
    """Antiy console: `SERVERADDRESS='…',SOURCE='…'`."""
    return body.startswith("SERVERADDRESS='") and ",SOURCE='" in body[:80]


@register_message("antiy_antivirus", sniff=sniff_antiy, priority=25)
def parse_antiy(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Antiy client, scan (virus), policy and baseline records."""
    pairs = {m.group(1): m.group(2) for m in _PAIR.finditer(body)}
    ip = valid_ip(pairs.get("ADDRESS", ""))
    if ip:
        set_path(doc, "host.ip", [ip])
    for key, field in (("MAC", "host.mac"), ("COMPUTER_NAME", "host.name"), ("NAV_VIRUS", "rule.name"),
                       ("TYPE", "rule.category"), ("FILE_NAME", "file.path"), ("ACTION", "event.action"),
                       ("ADMIN", "user.name"), ("OS", "host.os.full"), ("INSTRUCTION", "rule.name")):
        if pairs.get(key):
            set_path(doc, field, [pairs[key]] if field == "host.mac" else pairs[key])
    server = pairs.get("SERVERADDRESS", "").split(":")[0]
    if valid_ip(server):
        set_path(doc, "server.ip", valid_ip(server))
    stamp = pairs.get("LAST_TIME") or pairs.get("DEFEND_TIME") or pairs.get("SAMPLE_TIME") or ""
    if stamp:
        exact_local_time(doc, stamp, ctx)
    log_type = pairs.get("LOGTYPE", "").lower()
    if "ACTION" not in pairs:
        set_path(doc, "event.action", log_type or "log")
    virus = log_type == "scan"
    if virus and pairs.get("NAV_VIRUS"):
        set_path(doc, "threat.software.name", pairs["NAV_VIRUS"])
    classify_event(doc, "antiy", "iep", "antivirus", log_type or "log", ["malware"] if virus else ["host"], ["info"],
                   "alert" if virus else "event")
    relate_ips(doc, body)
