"""Topsec TopSAG 5.x bastion (operations audit) session and command records to ECS.

`res_type=redhat_unix protocol=ssh2 user_id=.. uip=CLIENT uname=USER asset=NAME aip=ASSET
account=ACCOUNT atime=MS etime=MS session_id=.. fort_ip=BASTION` is a session, the same with
`issuc=1 commands=ls atime='YYYY-MM-DD hh:mm:ss'` a command run in one (local time).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from soc.model import iso, set_path

from . import register_message
from .base import Doc, ParseContext, ParseError
from .kv import apply_fields, local_time, relate_ips, set_observer_dataset, split_kv

_EMPTY = re.compile(r"=(?=\s+[\w.-]{1,64}=)|=$")

EXTRA: dict[str, str] = {
    "uip": "source.ip",
    "uname": "user.name",
    "aip": "destination.ip",
    "asset": "destination.domain",
    "account": "user.target.name",
    "fort_ip": "observer.ip",
    "protocol": "network.protocol",
    "commands": "process.command_line",
    "session_id": "soc.device.session_id",
    "res_type": "soc.device.res_type",
}


def _is_sag(body: str) -> bool:
    """A TopSAG record: fort_ip=, uip= and aip= keys."""
    head = body[:2048]
    return "fort_ip=" in head and "uip=" in head and "aip=" in head and "session_id=" in head


def _ms(value: str) -> datetime | None:
    """Epoch milliseconds to an aware datetime."""
    if not value.isdigit():
        return None
    return datetime.fromtimestamp(int(value) / 1000, UTC)


@register_message("topsec_sag", sniff=_is_sag, priority=30)
def parse_topsec_sag(body: str, doc: Doc, ctx: ParseContext) -> None:
    """TopSAG 5.x session or command record."""
    pairs = split_kv(_EMPTY.sub('=""', body), seps="=")
    if "fort_ip" not in pairs:
        raise ParseError("not_topsec_sag", "no fort_ip")
    set_observer_dataset(doc, "topsec", "topsag", "bastion", "topsag")
    apply_fields(doc, {k: v for k, v in pairs.items() if k in EXTRA and v}, extra=EXTRA, keep_rest=False)
    if "commands" in pairs:
        set_path(doc, "event.category", ["process"])
        set_path(doc, "event.type", ["start"])
        set_path(doc, "event.action", "command")
        issuc = pairs.get("issuc")  # "is success": 1 yes, 0 no (the corpus: issuc=1 on a plain `ls`)
        if issuc in ("0", "1"):
            set_path(doc, "event.outcome", "success" if issuc == "1" else "failure")
        local_time(doc, pairs.get("atime", ""), ctx)
    else:
        set_path(doc, "event.category", ["session"])
        set_path(doc, "event.type", ["end"] if pairs.get("etime") else ["start"])
        set_path(doc, "event.action", "session")
        start, end = _ms(pairs.get("atime", "")), _ms(pairs.get("etime", ""))
        if start is not None:
            set_path(doc, "event.start", iso(start))
            doc["@timestamp"] = iso(end or start)
        if end is not None:
            set_path(doc, "event.end", iso(end))
    if pairs.get("uname"):
        set_path(doc, "related.user", [u for u in (pairs.get("uname"), pairs.get("account")) if u])
    relate_ips(doc, body)
