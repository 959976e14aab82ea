"""V-Secure jc-svr antivirus server syslog to ECS: virus events and console logins (k=”v”)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from soc.model import iso, set_path

from . import register_message
from .base import Doc, ParseContext
from .kv import apply_fields, classify_event, relate_ips, split_kv

_TS = re.compile(r"(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})")
_KEYS = {"virus_name": "rule.name", "virus_type": "rule.category", "virus_path": "file.path",
         "virus_md5": "file.hash.md5", "dev_name": "host.name", "ip": "host.ip", "op_result": "event.action",
         "event_type": "soc.device.event_type", "action": "event.action", "file_size": "file.size"}


def sniff_vsecure(body: str) -> bool:
    """jc-svr: `devid=… time=… event_class_id=…` or `user=… user_type=… action=…` (curly or plain quotes)."""
    head = body[:120]
    return ("devid=" in head[:8] and " event_class_id=" in head) or (head.startswith("user=") and " user_type=" in head)


@register_message("vsecure_antivirus", sniff=sniff_vsecure, priority=25)
def parse_vsecure(body: str, doc: Doc, ctx: ParseContext) -> None:
    """V-Secure antivirus virus-kill events and console logins."""
    text = body.replace("”", '"').replace("“", '"')
    pairs = split_kv(text, "=")
    ip = pairs.pop("ip", None)
    apply_fields(doc, pairs, extra=_KEYS)
    if ip:
        set_path(doc, "host.ip", [ip])
    if pairs.get("dev_name"):
        set_path(doc, "host.name", pairs["dev_name"])  # the endpoint, not the console that sent the line
    stamp = pairs.get("time", "")
    m = _TS.search(text[text.find("time="):] if "time=" in text else "")
    try:
        if stamp.isdigit():
            doc["@timestamp"] = iso(datetime.fromtimestamp(int(stamp), UTC))
        elif m:
            y, mo, d, h, mi, s = (int(g) for g in m.groups())
            doc["@timestamp"] = iso(datetime(y, mo, d, h, mi, s, tzinfo=ctx.timezone))
    except (ValueError, OverflowError, OSError):
        doc.setdefault("tags", []).append("_timestamp_invalid")
    virus = "virus_name" in pairs
    if virus:
        set_path(doc, "threat.software.name", pairs["virus_name"])
        category, etype, kind = ["malware"], ["info"], "alert"
    else:
        category, etype, kind = ["authentication"], ["start"], "event"
        if pairs.get("user"):
            set_path(doc, "related.user", [pairs["user"]])
    classify_event(doc, "v-secure", "jc-svr", "edr", "jc_svr", category, etype, kind)
    relate_ips(doc, body)
