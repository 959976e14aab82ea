"""JHSec JH-OAM bastion host to ECS: login records and resource-session records (k=v)."""

from __future__ import annotations

from datetime import UTC, datetime

from soc.model import iso, set_path

from . import register_message
from .base import Doc, ParseContext
from .kv import apply_fields, classify_event, relate_ips, relate_user, split_kv


def sniff_jhsec(body: str) -> bool:
    """JH-OAM: `log_type=… username=… remoteIP=…` or `globalSid=… personUip=… resIp=…`."""
    head = body[:200]
    return (head.startswith("log_type=") and " remoteIP=" in head) or (
        head.startswith("globalSid=") and " personUip=" in head
    )


@register_message("jhsec_bastion", sniff=sniff_jhsec, priority=25)
def parse_jhsec(body: str, doc: Doc, ctx: ParseContext) -> None:
    """JH-OAM bastion authentication and resource-access sessions."""
    pairs = split_kv(body, "=")
    extra = {"remoteIP": "source.ip", "personUip": "source.ip", "personUid": "user.name", "resIp": "destination.ip",
             "acc": "destination.user.name", "op": "event.action", "resName": "destination.domain",
             "protocol": "network.protocol"}
    # `result=1` on the login records is left under soc.device.result: the corpus has one login with
    # result=1 and nothing else on the line tells whether 1 means success or failure.
    apply_fields(doc, pairs, extra=extra)
    stamp = pairs.get("timestamp") or pairs.get("beginTime") or ""
    if stamp.isdigit():
        n = int(stamp)
        try:
            doc["@timestamp"] = iso(datetime.fromtimestamp(n / 1000 if n > 10**11 else n, UTC))
        except (ValueError, OverflowError, OSError):
            doc.setdefault("tags", []).append("_timestamp_invalid")
    if "globalSid" in pairs:
        set_path(doc, "event.action", "resource_session")
        category, etype = ["session"], ["start"]
    else:
        category, etype = ["authentication"], ["start"]
    relate_user(doc)
    classify_event(doc, "jhsec", "jh-oam", "bastion", "oam", category, etype)
    relate_ips(doc, body)
