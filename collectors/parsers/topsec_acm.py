"""Topsec TopACM (internet behaviour management) and DLP incident records to ECS.

- TopACM: `Type=URL; Source=IP:PORT; Dest=IP:PORT; Username=..; Group=..; Host=..; URL=..; Time=..;`
- DLP: `##TIME=YYYY-MM-DD hh:mm:ss##PROCESS=IncidentSvr-Per[pid]##...##PolicyName=..##RuleName=..`
Times are the device's local time.
"""

from __future__ import annotations

import re

from soc.model import set_path

from . import register_message
from .base import Doc, ParseContext
from .kv import local_time, relate_ips, set_observer_dataset, valid_ip

_ACM_SNIFF = re.compile(r"Type=[A-Za-z ]{1,40}; Source=[0-9A-Fa-f.:\[\]]{3,60}; ")
_ACM_PAIR = re.compile(r"([A-Za-z][A-Za-z ]{0,30})=([^;]{0,4096});")
_DLP_PAIR = re.compile(r"##([A-Za-z_]{1,40})=([^#]{0,4096})")


def _endpoint(doc: Doc, side: str, value: str) -> None:
    """`IP:PORT` into source/destination ip and port."""
    host, _, port = value.strip().rpartition(":")
    ip = valid_ip(host) or valid_ip(value)
    if ip:
        set_path(doc, f"{side}.ip", ip)
        if host and port.isdigit():
            set_path(doc, f"{side}.port", int(port))


@register_message("topsec_topacm", sniff=lambda body: _ACM_SNIFF.match(body[:120]) is not None, priority=30)
def parse_topsec_topacm(body: str, doc: Doc, ctx: ParseContext) -> None:
    """TopACM behaviour record: `Key=value;` pairs."""
    pairs = {k.strip(): v.strip() for k, v in _ACM_PAIR.findall(body)}
    set_observer_dataset(doc, "topsec", "topacm", "acm", "topacm")
    local_time(doc, pairs.get("Time", ""), ctx)
    _endpoint(doc, "source", pairs.get("Source", ""))
    _endpoint(doc, "destination", pairs.get("Dest", ""))
    if pairs.get("URL"):
        set_path(doc, "url.original", pairs["URL"])
    if pairs.get("Host"):
        set_path(doc, "url.domain", pairs["Host"])
    if pairs.get("Username") and not valid_ip(pairs["Username"]):
        set_path(doc, "user.name", pairs["Username"])
    if pairs.get("Account"):
        set_path(doc, "user.name", pairs["Account"])
    if pairs.get("File Name"):
        set_path(doc, "file.name", pairs["File Name"])
    kind = pairs.get("Type", "")
    set_path(doc, "event.action", kind.lower())
    set_path(doc, "event.category", ["authentication"] if kind == "Login" else ["network", "web"])
    set_path(doc, "event.type", ["info"])
    relate_ips(doc, body)


@register_message("topsec_dlp", sniff=lambda body: body.startswith("##TIME="), priority=30)
def parse_topsec_dlp(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Topsec DLP incident: `##KEY=value` pairs."""
    pairs = {k: v.strip() for k, v in _DLP_PAIR.findall(body)}
    set_observer_dataset(doc, "topsec", "dlp", "dlp", "dlp")
    local_time(doc, pairs.get("TIME", ""), ctx)
    set_path(doc, "event.kind", "alert")
    set_path(doc, "event.category", ["file"])
    set_path(doc, "event.type", ["info"])
    if pairs.get("PolicyName"):
        set_path(doc, "rule.name", pairs["PolicyName"])
    if pairs.get("INCIDENT_ID"):
        set_path(doc, "soc.device.incident_id", pairs["INCIDENT_ID"])
    if pairs.get("PROTOCOL"):
        set_path(doc, "network.protocol", pairs["PROTOCOL"].lower())
    relate_ips(doc, body)
