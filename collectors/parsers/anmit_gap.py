"""Anmit network gap (网闸) syslog to ECS: `<n>ID="…" FW="…" TIME="…" DEVID="…" MODULE="…" SRC="…" …`."""

from __future__ import annotations

from datetime import datetime

from soc.model import get_path, iso, set_path

from . import register_message
from .base import Doc, ParseContext
from .kv import apply_fields, relate_ips, set_observer, split_kv

_KEYS = {"SRC": "source.ip", "DST": "destination.ip", "SPT": "source.port", "DPT": "destination.port",
         "SMAC": "source.mac", "DMAC": "destination.mac", "USER": "user.name", "MODULE": "event.action",
         "DEVID": "observer.serial_number", "FW": "observer.name", "PROTO": "soc.device.proto"}


def sniff_anmit(body: str) -> bool:
    """Anmit gap: `<n>ID="…" FW="…" TIME="…" … DEVID="…"`."""
    head = body[:160]
    return head.startswith("<") and 'ID="' in head[:8] and ' DEVID="' in head


@register_message("anmit_gap", sniff=sniff_anmit, priority=25)
def parse_anmit(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Anmit gap access, management, file-exchange and status logs."""
    pairs = split_kv(body[body.find("ID="):], "=")
    apply_fields(doc, pairs, extra=_KEYS)
    try:
        doc["@timestamp"] = iso(datetime.strptime(pairs.get("TIME", ""), "%Y-%m-%d %H:%M:%S").replace(tzinfo=ctx.timezone))
    except ValueError:
        doc.setdefault("tags", []).append("_timestamp_invalid")
    result = pairs.get("RESULT", "")
    if result in ("成功", "失败"):
        set_path(doc, "event.outcome", "success" if result == "成功" else "failure")
    user = get_path(doc, "user.name")
    if user:
        set_path(doc, "related.user", [user])
    module = pairs.get("MODULE", "")
    outcome = get_path(doc, "event.outcome")
    if outcome is not None and outcome not in ("success", "failure", "unknown"):
        set_path(doc, "soc.device.result", outcome)
        del doc["event"]["outcome"]
    set_observer(doc, "anmit", "gap", "gap")
    set_path(doc, "event.module", "anmit")
    set_path(doc, "event.dataset", "anmit.gap")
    set_path(doc, "event.category", ["network"] if "访问" in module or "交换" in module else ["configuration"]
             if "管理" in module else ["host"])
    set_path(doc, "event.type", ["info"])
    relate_ips(doc, body)
