"""Anmit network gap (网闸) syslog to ECS: `<n>ID="…" FW="…" TIME="…" DEVID="…" MODULE="…" SRC="…" …`."""

from __future__ import annotations

from soc.model import set_path

from . import register_message
from .base import Doc, ParseContext
from .kv import (
    SYSLOG_SEVERITY, apply_fields, classify_event, exact_local_time, relate_ips, relate_user, set_severity, split_kv,
)

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
    exact_local_time(doc, pairs.get("TIME", ""), ctx)
    result = pairs.get("RESULT", "")
    if result in ("成功", "失败"):
        set_path(doc, "event.outcome", "success" if result == "成功" else "failure")
    relate_user(doc)
    module = pairs.get("MODULE", "")
    category = (["network"] if "访问" in module or "交换" in module
                else ["configuration"] if "管理" in module else ["host"])
    classify_event(doc, "anmit", "gap", "gap", "gap", category, ["info"])
    set_severity(doc, pairs.get("PRI"), SYSLOG_SEVERITY)  # PRI="5": the syslog level the <5> before it repeats
    relate_ips(doc, body)
