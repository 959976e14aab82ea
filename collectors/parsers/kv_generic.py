"""Generic key=value messages: the last-resort format for devices no specific parser claims.

A body is claimed only when it holds at least three `key=value` pairs; known keys (English and
Chinese, kv.ECS_KEYS) become ECS fields, the rest stays under soc.device.*.
"""

from __future__ import annotations

import re

from soc.model import get_path, set_path

from . import register_message
from .base import Doc, ParseContext, ParseError
from .kv import apply_fields, relate_ips, split_kv

# A key=value pair start: a word (ASCII or CJK) directly followed by "=" and a non-space.
_PAIR_START = re.compile(r"(?:^|[\s,;|&])[\w\u4e00-\u9fff.\-]{1,64}=(?=[^\s=])")
_OUTCOMES = {"success": "success", "succeeded": "success", "成功": "success", "ok": "success",
             "failure": "failure", "failed": "failure", "fail": "failure", "失败": "failure"}  # fmt: skip


def sniff_kv(body: str) -> bool:
    """At least three key=value pairs in the first 512 characters."""
    head = body[:512]
    if head.count("=") < 3:
        return False
    count = 0
    for _ in _PAIR_START.finditer(head):
        count += 1
        if count >= 3:
            return True
    return False


@register_message("kv_generic", sniff=sniff_kv, priority=200)
def parse_kv_generic(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Read a generic key=value message into ECS fields (known keys) and soc.device.* (the rest)."""
    pairs = split_kv(body, seps="=")
    if len(pairs) < 3:
        raise ParseError("kv_too_few_pairs", f"{len(pairs)} key=value pairs, 3 needed")
    set_path(doc, "event.dataset", "kv.generic")
    if get_path(doc, "event.module") in (None, "syslog"):
        set_path(doc, "event.module", "kv")
    apply_fields(doc, pairs)
    outcome = get_path(doc, "event.outcome")
    if isinstance(outcome, str):
        normalized = _OUTCOMES.get(outcome.strip().lower())
        if normalized is None:
            doc["event"].pop("outcome", None)
            set_path(doc, "soc.device.result", outcome)
        else:
            set_path(doc, "event.outcome", normalized)
    transport = get_path(doc, "network.transport")
    if isinstance(transport, str) and transport.isdigit():
        set_path(doc, "network.transport", {"6": "tcp", "17": "udp", "1": "icmp"}.get(transport, transport))
    relate_ips(doc, body)
