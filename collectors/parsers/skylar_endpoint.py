"""天擎 (Skylar) endpoint security logs to ECS, from both of its vendors.

天擎 was 360's enterprise endpoint product until the 2019 split made it Qianxin's: the JSON shape
(`{"version":"天擎6.x…","log_name":…,"ip":…,"report_ip":…,"content":{…}}`) is the same, so the
vendor is read from the version (6.6 and later ship as Qianxin) and from the Qianxin-only
`logcenter:skylar-client_*` log names; the 360 console's `client_info` / `website_audit` exports
are 360's.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from soc.model import get_path, set_path

from . import register_message
from .base import Doc, ParseContext, ParseError
from .kv import classify_event, local_time, relate_ips, split_kv, valid_ip

_TS = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T](\d{1,2}):(\d{2}):(\d{2})")
_VERSION = re.compile(r"(\d{1,2})\.(\d{1,2})")
_CATEGORY = {
    "病毒分析": ["malware"], "病毒查杀": ["malware"], "漏洞管理": ["vulnerability", "host"],
    "系统修复": ["configuration", "host"], "xp盾甲": ["intrusion_detection", "host"],
    "进程违规运行": ["process"], "外设使用": ["host"], "账号登录登出": ["authentication"],
    "打印审计": ["file"], "安全U盘审计": ["file"], "网络访问审计": ["host", "network"],
}  # fmt: skip


def _finish(doc: Doc, body: str, vendor: str, dataset: str, category: list[str], alert: bool) -> None:
    classify_event(doc, vendor, "skylar", "edr", f"skylar.{dataset}", category, ["info"],
                   "alert" if alert else "event")
    user = get_path(doc, "user.name")
    if isinstance(user, str):
        set_path(doc, "related.user", [user])
    relate_ips(doc, body)


def sniff_skylar(body: str) -> bool:
    """天擎 JSON (version 天擎…, escaped or not), Qianxin logcenter records, 360 console exports."""
    head = body[:120]
    if not head.startswith("{"):
        return False
    return (
        '"version":"\\u5929\\u64ce' in head
        or '"version":"天擎' in head
        or "logcenter:skylar" in head
        or head.startswith(('{"HOSTID":', "{NUM_ID="))
    )


def _host(doc: Doc, ip: Any, mac: Any = None, name: Any = None) -> None:
    if isinstance(ip, str) and valid_ip(ip):
        set_path(doc, "host.ip", [valid_ip(ip)])
    if isinstance(mac, str) and mac:
        set_path(doc, "host.mac", [mac])
    if isinstance(name, str) and name:
        set_path(doc, "host.name", name)


@register_message("skylar_endpoint", sniff=sniff_skylar, priority=25)
def parse_skylar(body: str, doc: Doc, ctx: ParseContext) -> None:
    """天擎 endpoint logs: virus, vulnerability, process, device, login, print, USB, network audit."""
    if body.startswith("{NUM_ID="):
        pairs = split_kv(body.strip("{}"), "=")
        _host(doc, pairs.get("IPADDR"), pairs.get("MACADDR"), pairs.get("CMPNAME"))
        site = re.search(r">([^<]{1,2048})</a>", body)
        if site:
            set_path(doc, "url.original", site.group(1))
        set_path(doc, "event.action", "website_audit")
        _finish(doc, body, "360", "website_audit", ["web", "host"], alert=False)
        return
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        obj = None
    if not isinstance(obj, dict):
        raise ParseError("skylar_json", "not a JSON object")
    if "HOSTID" in obj:
        _host(doc, obj.get("IPADDR"), obj.get("TRUEMACADDR"), obj.get("CMPNAME"))
        if isinstance(obj.get("LOGONUSER"), str):
            set_path(doc, "user.name", obj["LOGONUSER"])
        if isinstance(obj.get("OSVER"), str):
            set_path(doc, "host.os.name", obj["OSVER"])
        set_path(doc, "event.action", "client_info")
        _finish(doc, body, "360", "client_info", ["host"], alert=False)
        return
    version = str(obj.get("version", ""))
    log_name = str(obj.get("log_name", ""))
    vm = _VERSION.search(version)
    qianxin = log_name.startswith("logcenter:") or (vm is not None and (int(vm[1]), int(vm[2])) >= (6, 6))
    vendor = "qianxin" if qianxin else "360"
    _host(doc, obj.get("ip"), obj.get("mac"))
    if isinstance(obj.get("create_time"), str):
        local_time(doc, obj["create_time"], ctx, _TS)
    set_path(doc, "event.action", log_name)
    content = obj.get("content") if isinstance(obj.get("content"), dict) else {}
    alert = False
    if "病毒" in log_name:
        if isinstance(content.get("name"), str):
            set_path(doc, "rule.name", content["name"])
            set_path(doc, "threat.software.name", content["name"])
        if isinstance(content.get("virus_path"), str):
            set_path(doc, "file.path", content["virus_path"])
        alert = True
    for key, field in (("login_user", "user.name"), ("process_user", "user.name"), ("account", "user.name"),
                       ("process_name", "process.name"), ("cmdline", "process.command_line"),
                       ("process_path", "process.executable"), ("file_path", "file.path"),
                       ("process_md5", "process.hash.md5"), ("url", "url.original")):
        if isinstance(content.get(key), str) and content[key] and get_path(doc, field) is None:
            set_path(doc, field, content[key].strip())
    dest = content.get("destination_ip") or content.get("remote_ip")
    if isinstance(dest, str) and valid_ip(dest):
        set_path(doc, "destination.ip", valid_ip(dest))
    if log_name.startswith("logcenter:skylar-client_"):
        kind = log_name.removeprefix("logcenter:skylar-client_")
        category = ["process", "network"] if "socket" in kind else ["file"] if "file" in kind else ["host"]
    else:
        category = _CATEGORY.get(log_name, ["host"])
    _finish(doc, body, vendor, log_name.split(":")[-1] or "log", category, alert)
