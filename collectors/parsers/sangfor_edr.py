"""Sangfor EDR syslog: `LOGTYPE : [{json record}, ...]` (nofile_attack, anti_bfa, Botnet, blscan, flux).

Times are epoch seconds (`time`, `found_time`); `iplist` is the endpoint's address, `att_src` the
brute-force attacker. The flux record uses one-letter keys: a host, c local IP, d command line,
f remote IP, g remote port, h transport, k verdict.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from soc.model import iso, set_path

from . import register_message
from .base import Doc, ParseContext, ParseError
from .kv import relate_ips, set_observer_dataset, valid_ip

_HEAD = re.compile(r"([A-Za-z_]{2,32}) : (\[\{)")

# log type -> (event.category, event.kind)
_TYPES: dict[str, tuple[list[str], str]] = {
    "nofile_attack": (["malware", "process"], "alert"),
    "botnet": (["malware", "network"], "alert"),
    "virus": (["malware", "file"], "alert"),
    "anti_bfa": (["intrusion_detection", "authentication"], "alert"),
    "blscan": (["host", "configuration"], "event"),
    "flux": (["network", "host"], "event"),
}


def _set_ip(doc: Doc, field: str, value: Any) -> None:
    """Set an IP field when the value is a valid address."""
    ip = valid_ip(str(value)) if value else None
    if ip:
        set_path(doc, field, ip)


@register_message("sangfor_edr", sniff=lambda body: _HEAD.match(body[:40]) is not None, priority=30)
def parse_sangfor_edr(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Sangfor EDR record list (the first record is read)."""
    m = _HEAD.match(body)
    if m is None:
        raise ParseError("not_sangfor_edr", "no 'TYPE : [{' header")
    log_type = m.group(1)
    try:
        records = json.loads(body[m.start(2):].strip())
    except ValueError as exc:
        raise ParseError("not_sangfor_edr", f"record list is not JSON: {exc}") from exc
    if not isinstance(records, list) or not records or not isinstance(records[0], dict):
        raise ParseError("not_sangfor_edr", "empty record list")
    rec: dict[str, Any] = records[0]
    set_observer_dataset(doc, "sangfor", "edr", "edr", "edr")
    set_path(doc, "event.action", log_type.lower())
    cats, kind = _TYPES.get(log_type.lower(), (["host"], "event"))
    set_path(doc, "event.category", cats)
    set_path(doc, "event.kind", kind)
    set_path(doc, "event.type", ["info"])
    when = rec.get("time") or rec.get("found_time") or rec.get("l")
    if isinstance(when, int) and 0 < when < 2**32:
        doc["@timestamp"] = iso(datetime.fromtimestamp(when, UTC))
    if isinstance(rec.get("found_time"), int):
        set_path(doc, "event.start", iso(datetime.fromtimestamp(rec["found_time"], UTC)))
    _set_ip(doc, "host.ip", rec.get("iplist"))
    host = rec.get("host_name") or rec.get("alias") or rec.get("a")
    if host:
        set_path(doc, "host.name", str(host))
    if rec.get("agent_id"):
        set_path(doc, "agent.id", str(rec["agent_id"]))
    name = rec.get("threat_name") or rec.get("threat_file")
    if name:
        set_path(doc, "rule.name", str(name))
    if rec.get("event_type"):
        set_path(doc, "rule.category", str(rec["event_type"]))
    if rec.get("state"):
        set_path(doc, "soc.device.state", str(rec["state"]))
    if rec.get("file_md5"):
        set_path(doc, "file.hash.md5", str(rec["file_md5"]))
    if rec.get("file_path"):
        set_path(doc, "file.path", str(rec["file_path"]))
    if log_type.lower() == "anti_bfa":
        _set_ip(doc, "source.ip", rec.get("att_src"))
        if isinstance(rec.get("att_times"), int):
            set_path(doc, "soc.device.attempts", rec["att_times"])
    if log_type.lower() == "flux":
        _set_ip(doc, "source.ip", rec.get("c"))
        _set_ip(doc, "destination.ip", rec.get("f"))
        if isinstance(rec.get("g"), int):
            set_path(doc, "destination.port", rec["g"])
        if rec.get("h"):
            set_path(doc, "network.transport", str(rec["h"]).lower())
        if rec.get("d") and rec["d"] != "-":
            set_path(doc, "process.command_line", str(rec["d"]))
        if rec.get("k"):
            set_path(doc, "event.action", str(rec["k"]))
            set_path(doc, "event.type", ["allowed"] if rec["k"] == "允许" else ["denied"] if rec["k"] == "拒绝" else ["info"])
    if log_type.lower() == "blscan" and rec.get("system"):
        set_path(doc, "host.os.full", str(rec["system"]))
    relate_ips(doc, body)
