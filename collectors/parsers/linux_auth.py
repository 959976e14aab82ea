"""Linux auth/secure log messages beyond sshd: sudo, su, PAM (pam_unix, pam_faillock, pam_tally2),
unix_chkpwd, passwd and the shadow-utils account tools (useradd, groupadd, userdel, usermod, gpasswd).

Fields follow Elastic's system.auth pipeline (user.name, user.effective.name for sudo's target,
user.target.name, group.*), with event.action words in snake_case; a PAM lock-out is
event.action "account_locked".
"""

from __future__ import annotations

import re

from soc.model import get_path, set_path

from . import register_message
from .base import Doc, ParseContext
from .kv import relate_ips, set_action, set_host_os, valid_ip

_SUDO = re.compile(r"\s{0,32}(\S{1,256}) : (.{0,4096}?)(?:COMMAND=(.*))?$")
_PAM_KV = re.compile(r"(\w{1,32})=(\S{0,256})")
_PAM_AUTH_FAIL = re.compile(
    r"(?:pam_\w{1,32}\([^)]{0,64}\): authentication failures?;|PAM \d+ more authentication failures?;)(.*)$"
)
_PAM_SESSION = re.compile(
    r"pam_\w{1,32}\(([^):]{0,64}):session\): session (opened|closed) for user (\S{1,256})(?: by (\S{0,256}?)\(uid=(\d+)\))?"
)
_LOCKED = re.compile(
    r"(?:Consecutive login failures for user (\S{1,256}) account temporarily locked"
    r"|user (\S{1,256}) \(\d+\) tally \d+, deny \d+"
    r"|[Aa]ccount (?:is )?(?:temporarily )?locked(?: due to \d+ failed logins)?"
    r"|[Aa]ccount (\S{1,256}) (?:is )?locked)"
)
_SUCCEED_IF = re.compile(r"pam_succeed_if\([^)]{0,64}\): requirement \"([^\"]{0,256})\" not met by user \"([^\"]{1,256})\"")
_MAX_RETRIES = re.compile(r"PAM service\(([^)]{0,64})\) ignoring max retries; (\d+) > (\d+)")
_PASSWD_CHANGED = re.compile(r"pam_\w{1,32}\([^)]{0,64}\): password changed for (\S{1,256})")
_CHKPWD = re.compile(r"password check failed for user \((\S{1,256})\)")
_SU_OK = re.compile(r"(?:Successful su for (\S{1,256}) by (\S{1,256})|\(to (\S{1,256})\) (\S{1,256}) on (\S{1,64}))")
_SU_FAIL = re.compile(r"FAILED (?:su for (\S{1,256}) by (\S{1,256})|SU \(to (\S{1,256})\) (\S{1,256}) on (\S{1,64}))")
_SU_PLUS = re.compile(r"([+-]) (\S{1,64}) (\S{1,256}?):(\S{1,256})$")
_NEW_USER = re.compile(r"new user: name=([^,\s]{1,256}), UID=(\d+), GID=(\d+)(?:, home=([^,]{0,1024}))?(?:, shell=(\S{0,256}))?")
_NEW_GROUP = re.compile(r"new group: name=([^,\s]{1,256}), GID=(\d+)")
_USER_OP = re.compile(r"(failed adding user|delete user|change user|lock user|unlock user) '([^']{1,256})'")
_GROUP_OP = re.compile(r"(group added to|removed group|delete group|remove group) '?([^'\s,]{1,256})'?")
_GPASSWD = re.compile(r"user (\S{1,256}) (added|removed) by (\S{1,256}) (?:to|from) group (\S{1,256})")

_SUDO_FAILURES = ("NOT in sudoers", "incorrect password attempt", "command not allowed", "authentication failure",
                  "a password is required", "NOT allowed")  # fmt: skip
PROGRAMS = ("sudo", "su", "useradd", "userdel", "usermod", "groupadd", "groupdel", "groupmod", "gpasswd",
            "passwd", "chpasswd", "chage", "unix_chkpwd", "login", "newgrp")  # fmt: skip


def sniff_pam(body: str) -> bool:
    """A PAM module message (pam_unix(...), pam_faillock(...), "PAM n more ...")."""
    return body.startswith(("pam_", "PAM ")) and ("(" in body[:40] or "more authentication" in body[:40])


def _related(doc: Doc, *names: str | None) -> None:
    for name in names:
        if name:
            values = get_path(doc, "related.user") or []
            if name not in values:
                values.append(name)
            set_path(doc, "related.user", values)


def _sudo(doc: Doc, body: str) -> bool:
    m = _SUDO.match(body)
    if m is None or "=" not in body:
        return False
    user, middle, command = m.groups()
    fields: dict[str, str] = {}
    errors: list[str] = []
    for part in middle.split(";"):
        part = part.strip()
        if not part:
            continue
        key, eq, value = part.partition("=")
        if eq and key.isupper():
            fields[key] = value
        else:
            errors.append(part)
    set_path(doc, "user.name", user)
    target = fields.get("USER")
    if target:
        set_path(doc, "user.effective.name", target)
    if command:
        set_path(doc, "process.command_line", command.strip())
    if fields.get("PWD"):
        set_path(doc, "process.working_directory", fields["PWD"])
    if fields.get("TTY") and fields["TTY"] != "unknown":
        set_path(doc, "process.tty.name", fields["TTY"])
    _related(doc, user, target)
    if errors:
        set_path(doc, "error.message", "; ".join(errors))
    failed = any(f in e for e in errors for f in _SUDO_FAILURES)
    set_action(doc, "sudo_denied" if failed else "sudo_command", ["process"], ["start"],
               "failure" if failed else "success")
    return True


def _pam_fields(doc: Doc, rest: str) -> None:
    """logname= uid= euid= tty= ruser= rhost= user= of a PAM failure line."""
    kv = dict(_PAM_KV.findall(rest))
    if kv.get("user"):
        set_path(doc, "user.name", kv["user"])
    rhost = kv.get("rhost", "")
    if rhost:
        set_path(doc, "source.address", rhost)
        ip = valid_ip(rhost)
        if ip is not None:
            set_path(doc, "source.ip", ip)
        else:
            set_path(doc, "source.domain", rhost)
    if kv.get("ruser"):
        set_path(doc, "source.user.name", kv["ruser"])
    if kv.get("tty"):
        set_path(doc, "process.tty.name", kv["tty"])
    _related(doc, kv.get("user"), kv.get("ruser"), kv.get("logname"))


def _pam(doc: Doc, body: str) -> bool:
    m = _LOCKED.search(body)
    if m is not None and ("pam_" in body[:40] or "locked" in body):
        user = m.group(1) or m.group(2) or m.group(3)
        if user:
            set_path(doc, "user.name", user)
            _related(doc, user)
        set_action(doc, "account_locked", ["authentication"], ["info"], "failure")
        return True
    m = _PAM_AUTH_FAIL.search(body)
    if m is not None:
        _pam_fields(doc, m.group(1))
        set_action(doc, "authentication_failure", ["authentication"], ["info"], "failure")
        return True
    m = _PAM_SESSION.search(body)
    if m is not None:
        _service, verb, for_user, by_user, _uid = m.groups()
        set_path(doc, "user.name", by_user or for_user)
        if by_user and by_user != for_user:
            set_path(doc, "user.effective.name", for_user)
        _related(doc, for_user, by_user)
        opened = verb == "opened"
        set_action(doc, f"session_{verb}", ["session"], ["start" if opened else "end"], "success")
        return True
    m = _MAX_RETRIES.search(body)
    if m is not None:
        # More attempts than the service's limit on one connection: a guessing client.
        set_path(doc, "event.reason", f"{m.group(2)} attempts > max retries {m.group(3)}")
        set_action(doc, "max_retries_exceeded", ["authentication"], ["info"], "failure")
        return True
    m = _SUCCEED_IF.search(body)
    if m is not None:
        set_path(doc, "user.name", m.group(2))
        set_path(doc, "event.reason", f"requirement {m.group(1)} not met")
        _related(doc, m.group(2))
        set_action(doc, "requirement_not_met", ["authentication"], ["info"], "failure")
        return True
    m = _PASSWD_CHANGED.search(body)
    if m is not None:
        set_path(doc, "user.name", m.group(1))
        set_path(doc, "user.target.name", m.group(1))
        _related(doc, m.group(1))
        set_action(doc, "password_changed", ["iam"], ["change"], "success")
        return True
    m = _CHKPWD.search(body)
    if m is not None:
        set_path(doc, "user.name", m.group(1))
        _related(doc, m.group(1))
        set_action(doc, "authentication_failure", ["authentication"], ["info"], "failure")
        return True
    return False


def _su(doc: Doc, body: str) -> bool:
    for rx, outcome in ((_SU_FAIL, "failure"), (_SU_OK, "success")):
        m = rx.search(body)
        if m is not None:
            target = m.group(1) or m.group(3)
            user = m.group(2) or m.group(4)
            break
    else:
        m = _SU_PLUS.match(body.strip())
        if m is None:
            return False
        outcome = "success" if m.group(1) == "+" else "failure"
        user, target = m.group(3), m.group(4)
    set_path(doc, "user.name", user)
    set_path(doc, "user.effective.name", target)
    _related(doc, user, target)
    set_action(doc, "su", ["authentication"], ["start"], outcome)
    return True


def _accounts(doc: Doc, body: str) -> bool:
    m = _NEW_USER.search(body)
    if m is not None:
        name, uid, gid, home, shell = m.groups()
        set_path(doc, "user.name", name)
        set_path(doc, "user.id", uid)
        set_path(doc, "group.id", gid)
        _related(doc, name)
        set_action(doc, "user_created", ["iam"], ["user", "creation"], "success")
        return True
    m = _NEW_GROUP.search(body)
    if m is not None:
        set_path(doc, "group.name", m.group(1))
        set_path(doc, "group.id", m.group(2))
        set_action(doc, "group_created", ["iam"], ["group", "creation"], "success")
        return True
    m = _GPASSWD.search(body)
    if m is not None:
        target, verb, actor, group = m.groups()
        set_path(doc, "user.name", actor)
        set_path(doc, "user.target.name", target)
        set_path(doc, "group.name", group)
        _related(doc, actor, target)
        set_action(doc, f"group_member_{verb}", ["iam"], ["change"], "success")
        return True
    m = _USER_OP.search(body)
    if m is not None:
        op, name = m.groups()
        set_path(doc, "user.name", name)
        _related(doc, name)
        if op == "failed adding user":
            set_action(doc, "user_created", ["iam"], ["user", "creation"], "failure")
        elif op == "delete user":
            set_action(doc, "user_deleted", ["iam"], ["user", "deletion"], "success")
        else:
            set_action(doc, op.replace(" ", "_"), ["iam"], ["user", "change"], "success")
        return True
    m = _GROUP_OP.search(body)
    if m is not None:
        set_path(doc, "group.name", m.group(2))
        deleted = "remove" in m.group(1) or "delete" in m.group(1)
        set_action(doc, "group_deleted" if deleted else "group_created", ["iam"],
                   ["group", "deletion" if deleted else "creation"], "success")  # fmt: skip
        return True
    return False


@register_message("linux_auth", sniff=sniff_pam, programs=PROGRAMS, priority=60)
def parse_linux_auth(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Read a sudo/su/PAM/account-tool message into ECS fields of doc (unknown lines stay as they are)."""
    text = body.strip()
    program = get_path(doc, "process.name")
    handled = (
        (text.startswith(("pam_", "PAM ")) and _pam(doc, text))
        or (program == "sudo" and " : " in text[:300] and _sudo(doc, text))
        or (program == "su" and _su(doc, text))
        or _pam(doc, text)
        or _accounts(doc, text)
    )
    if handled:
        set_host_os(doc, "linux")
        set_path(doc, "event.module", "system")
        set_path(doc, "event.dataset", "system.auth")
        relate_ips(doc, text)
