"""Linux audit records (auditd log lines, audispd/auditd syslog, kernel "audit:" lines) to ECS.

`[node=host ]type=USER_LOGIN msg=audit(1485894621.323:4051): pid=... uid=0 auid=... ses=...
msg='op=login acct="root" exe="/usr/sbin/sshd" hostname=? addr=1.2.3.4 terminal=ssh res=failed'`.
Hex-encoded values (exe, cmd, proctitle, acct, ...) are decoded; the enriched part auditd adds
after a GS (0x1d) separator (AUID="alice" UID="root" ...) gives user names. event.action,
event.category and event.type per record type follow Elastic's auditd integration.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from soc.model import get_path, iso, set_path

from . import register_message
from .base import Doc, ParseContext, ParseError
from .kv import relate_ips, split_kv, valid_ip

_RECORD = re.compile(
    r"(?:node=(\S{1,256}) )?type=([\w\[\]]{1,64}) (?:msg=)?audit\((\d{1,12})(?:\.(\d{1,9}))?:(\d{1,20})\):\s?"
)
_TYPE_ONLY = re.compile(r"(?:node=(\S{1,256}) )?type=([\w\[\]]{1,64}) ")
_HEX = re.compile(r"^(?:[0-9A-F]{2}){2,}$")
# EXECVE arguments: a0="curl", a1=2F746D70 (hex when the argument has spaces, quotes or control
# bytes), and a long argument in pieces: a1_len=9000 a1[0]=... a1[1]=...
_ARG = re.compile(r'(?<![\w\[])a(\d{1,5})(?:\[(\d{1,6})\])?=(?:"([^"]{0,131072})"|(\S{1,131072}))')
_ARG_HEX = re.compile(r"(?:[0-9A-F]{2})+")
_HEX_FIELDS = frozenset({"acct", "cmd", "comm", "cwd", "data", "dir", "exe", "file", "grp", "name", "new_group",
                         "ocomm", "path", "proctitle", "watch", "vm", "key", "old-chardev", "new-chardev"})  # fmt: skip
# record type -> (event.action, event.category, event.type), as Elastic's auditd integration names them.
RECORD_TYPES: dict[str, tuple[str, list[str] | None, list[str] | None]] = {
    "USER_LOGIN": ("logged-in", ["authentication"], ["start"]),
    "USER_LOGOUT": ("logged-out", ["authentication"], ["end"]),
    "USER_AUTH": ("authenticated", ["authentication"], ["info"]),
    "USER_ACCT": ("was-authorized", ["authentication"], ["info"]),
    "USER_ERR": ("error", ["authentication"], ["info"]),
    "USER_START": ("started-session", ["session"], ["start"]),
    "USER_END": ("ended-session", ["session"], ["end"]),
    "CRED_ACQ": ("acquired-credentials", ["authentication"], ["info"]),
    "CRED_DISP": ("disposed-credentials", ["authentication"], ["info"]),
    "CRED_REFR": ("refreshed-credentials", ["authentication"], ["info"]),
    "LOGIN": ("changed-login-id-to", ["authentication"], ["start"]),
    "USER_CMD": ("ran-command", ["process"], ["start"]),
    "USER_CHAUTHTOK": ("changed-password", ["iam"], ["user", "change"]),
    "ADD_USER": ("added-user-account", ["iam"], ["user", "creation"]),
    "DEL_USER": ("deleted-user-account", ["iam"], ["user", "deletion"]),
    "USER_MGMT": ("modified-user-account", ["iam"], ["user", "change"]),
    "ADD_GROUP": ("added-group-account-to", ["iam"], ["group", "creation"]),
    "DEL_GROUP": ("deleted-group-account-from", ["iam"], ["group", "deletion"]),
    "GRP_MGMT": ("modified-group-account", ["iam"], ["group", "change"]),
    "GRP_CHAUTHTOK": ("changed-group-password", ["iam"], ["group", "change"]),
    "ACCT_LOCK": ("locked-account", ["iam"], ["user", "change"]),
    "ACCT_UNLOCK": ("unlocked-account", ["iam"], ["user", "change"]),
    "ANOM_LOGIN_FAILURES": ("failed-log-in-too-many-times-to", ["authentication"], ["info"]),
    "ANOM_LOGIN_LOCATION": ("attempted-log-in-from-unusual-place-to", ["authentication"], ["info"]),
    "ANOM_LOGIN_TIME": ("attempted-log-in-during-unusual-hour-to", ["authentication"], ["info"]),
    "ANOM_LOGIN_SESSIONS": ("exceeded-max-sessions", ["authentication"], ["info"]),
    "CRYPTO_SESSION": ("started-crypto-session", ["process"], ["info"]),
    "CRYPTO_KEY_USER": ("negotiated-crypto-key", ["process"], ["info"]),
    "SOFTWARE_UPDATE": ("package-updated", ["package"], ["info"]),
    "SYSTEM_BOOT": ("booted-system", ["host"], ["info"]),
    "SYSTEM_SHUTDOWN": ("shutdown-system", ["host"], ["info"]),
    "SYSTEM_RUNLEVEL": ("changed-to-runlevel", ["host"], ["change"]),
    "KERN_MODULE": ("loaded-kernel-module", ["driver"], ["start"]),
    "VIRT_CONTROL": ("issued-vm-control", ["host"], ["creation"]),
    "VIRT_MACHINE_ID": ("assigned-vm-id", ["host"], ["creation"]),
    "VIRT_RESOURCE": ("assigned-vm-resource", ["host"], ["creation"]),
    "DAEMON_START": ("started-audit", ["process"], ["start"]),
    "DAEMON_END": ("shutdown-audit", ["process"], ["stop"]),
    "DAEMON_ABORT": ("aborted-audit-daemon", ["process"], ["stop"]),
    "CONFIG_CHANGE": ("changed-audit-configuration", ["process", "configuration"], ["change"]),
    "SERVICE_START": ("started-service", ["process"], ["start"]),
    "SERVICE_STOP": ("stopped-service", ["process"], ["stop"]),
    "NETFILTER_CFG": ("loaded-firewall-rule-to", ["configuration"], ["change"]),
    "USYS_CONFIG": ("changed-configuration", ["configuration"], ["change"]),
    "USER_ROLE_CHANGE": ("changed-role-to", None, None),
    "TTY": ("typed", None, None),
    "USER_TTY": ("typed", None, None),
    "SYSCALL": ("syscall", ["process"], ["info"]),
    "AVC": ("violated-selinux-policy", ["intrusion_detection"], ["info"]),
    "ANOM_ABEND": ("crashed-program", ["process"], ["end"]),
    "ANOM_PROMISCUOUS": ("changed-promiscuous-mode-on-device", ["network"], ["change"]),
}
_SUCCESS = frozenset({"success", "yes", "1"})
_FAILURE = frozenset({"failed", "failure", "no", "0"})
# audit field -> ECS field (string values).
_STR = {
    "pid": "process.pid", "ppid": "process.parent.pid", "comm": "process.name", "exe": "process.executable",
    "cwd": "process.working_directory", "uid": "user.id", "auid": "user.audit.id", "euid": "user.effective.id",
    "suid": "user.saved.id", "fsuid": "user.filesystem.id", "gid": "user.group.id", "egid": "user.effective.group.id",
    "sgid": "user.saved.group.id", "fsgid": "user.filesystem.group.id", "terminal": "user.terminal",
    "ses": "auditd.log.ses", "op": "auditd.log.op", "key": "auditd.log.key", "syscall": "auditd.log.syscall",
    "arch": "auditd.log.arch", "subj": "auditd.log.subj", "hostname": "auditd.log.hostname",
    "exit": "process.exit_code", "unit": "auditd.log.unit",
}  # fmt: skip
_INT = frozenset({"process.pid", "process.parent.pid", "process.exit_code"})
# Names the enriched (GS-separated) part resolves: UID="root" ...
_NAMES = {"UID": "user.name", "AUID": "user.audit.name", "EUID": "user.effective.name", "GID": "user.group.name",
          "SUID": "user.saved.name", "FSUID": "user.filesystem.name"}  # fmt: skip


def sniff_auditd(body: str) -> bool:
    """type=XXX msg=audit(epoch:serial): near the start (optionally after node= or "audit: ")."""
    head = body[:300]
    return "audit(" in head and _RECORD.search(head) is not None


def _decode(key: str, value: str, quoted: bool) -> str:
    """Hex-encoded audit values (written unquoted when they hold spaces or odd bytes)."""
    if quoted or key not in _HEX_FIELDS or not _HEX.match(value):
        return value
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        return value
    return raw.replace(b"\x00", b" ").decode("utf-8", "replace").strip()


def _execve(doc: Doc, rest: str, argc: str) -> None:
    """An EXECVE record's arguments: process.args (decoded), args_count and command_line.

    Each record is read alone (auditd writes the SYSCALL, EXECVE, PROCTITLE... records of one
    event as lines of their own). auditd.log.a<N> keeps each argument, decoded, for the rules.
    """
    pieces: dict[int, bytes] = {}
    for m in _ARG.finditer(rest):
        quoted, bare = m.group(3), m.group(4)
        if quoted is None and _ARG_HEX.fullmatch(bare):
            raw = bytes.fromhex(bare)  # spaces inside stay: it is one argument
        else:
            raw = (bare if quoted is None else quoted).encode()
        index = int(m.group(1))
        pieces[index] = pieces.get(index, b"") + raw
    args = [pieces[i].decode("utf-8", "replace") for i in sorted(pieces)]
    for i, arg in zip(sorted(pieces), args, strict=True):
        set_path(doc, f"auditd.log.a{i}", arg)
    if args:
        set_path(doc, "process.args", args)
        set_path(doc, "process.command_line", " ".join(args))
    if argc.isdigit() or args:
        set_path(doc, "process.args_count", int(argc) if argc.isdigit() else len(args))


def _pairs(text: str) -> dict[str, tuple[str, bool]]:
    """key -> (value, was_quoted) of an audit record body (quoted values may hold spaces)."""
    out: dict[str, tuple[str, bool]] = {}
    for key, value in split_kv(text, seps="=").items():
        quoted = f'{key}="' in text
        out[key] = (value, quoted)
    return out


def _apply(doc: Doc, pairs: dict[str, tuple[str, bool]]) -> None:
    for key, (value, quoted) in pairs.items():
        if value in ("", "?", "(none)", "(null)"):
            continue
        value = _decode(key, value, quoted)
        if key in _STR:
            field = _STR[key]
            if field in _INT:
                if value.lstrip("-").isdigit():
                    set_path(doc, field, int(value))
            elif get_path(doc, field) is None:
                set_path(doc, field, value)
        elif key in _NAMES:
            set_path(doc, _NAMES[key], value)
        elif key == "acct" or (key == "user" and get_path(doc, "user.name") is None):
            set_path(doc, "user.name", value)
        elif key in ("addr", "src"):
            ip = valid_ip(value)
            if ip is not None:
                set_path(doc, "source.address", value)
                set_path(doc, "source.ip", ip)
        elif key == "dst":
            ip = valid_ip(value)
            if ip is not None:
                set_path(doc, "destination.ip", ip)
        elif key == "rport" and value.isdigit():
            set_path(doc, "source.port", int(value))
        elif key in ("res", "result", "success"):
            low = value.lower()
            if low in _SUCCESS:
                set_path(doc, "event.outcome", "success")
            elif low in _FAILURE:
                set_path(doc, "event.outcome", "failure")
        elif key == "cmd":
            set_path(doc, "process.command_line", value)
            set_path(doc, "process.args", value.split())
        elif key == "proctitle":
            set_path(doc, "process.title", value)
        else:
            set_path(doc, f"auditd.log.{re.sub(r'[^A-Za-z0-9_]', '_', key)}", value)


@register_message("auditd", sniff=sniff_auditd, programs=("audispd", "auditd", "audisp-syslog"), priority=15)
def parse_auditd(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Read one Linux audit record into ECS fields of doc."""
    m = _RECORD.search(body[:1024])
    if m is None:
        bare = _TYPE_ONLY.match(body)
        if bare is None:
            raise ParseError("auditd_no_record", "no type=... msg=audit(...) record header")
        # A record whose audit(...) stamp is missing or garbled: its type is all that is known.
        set_path(doc, "event.module", "auditd")
        set_path(doc, "event.dataset", "auditd.log")
        set_path(doc, "auditd.log.record_type", bare.group(2))
        action = RECORD_TYPES.get(bare.group(2), (bare.group(2).lower(),))[0]
        set_path(doc, "event.action", action)
        doc.setdefault("tags", []).append("_parse_partial")
        return
    node, rtype, secs, frac, serial = m.groups()
    rest = body[m.end() :].rstrip("\r\n")
    rest, _gs, enriched = rest.partition("\x1d")

    set_path(doc, "event.module", "auditd")
    set_path(doc, "event.dataset", "auditd.log")
    set_path(doc, "auditd.log.record_type", rtype)
    set_path(doc, "auditd.log.sequence", int(serial))
    if node:
        set_path(doc, "host.name", node)
    try:
        ts = datetime.fromtimestamp(int(secs), UTC).replace(microsecond=int((frac or "0")[:6].ljust(6, "0")))
        set_path(doc, "@timestamp", iso(ts))
    except (ValueError, OverflowError, OSError):
        doc.setdefault("tags", []).append("_timestamp_invalid")

    outer = _pairs(rest)
    inner_text = ""
    if "msg" in outer:
        inner_text = outer.pop("msg")[0]
        if "=" not in inner_text:
            set_path(doc, "message", inner_text)
            inner_text = ""
    _apply(doc, outer)
    if rtype == "EXECVE":
        _execve(doc, rest, outer.get("argc", ("", False))[0])
    if inner_text:
        _apply(doc, _pairs(inner_text))
    if enriched:
        _apply(doc, {k: v for k, v in _pairs(enriched).items() if k in _NAMES})

    action, category, types = RECORD_TYPES.get(rtype, (rtype.lower(), None, None))
    set_path(doc, "event.action", action)
    if category:
        set_path(doc, "event.category", category)
    if types:
        set_path(doc, "event.type", types)
    name = get_path(doc, "user.name")
    if name:
        set_path(doc, "related.user", [name])
    relate_ips(doc, rest + " " + inner_text)
