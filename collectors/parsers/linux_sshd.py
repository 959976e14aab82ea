"""OpenSSH sshd messages to ECS, with the system.auth.ssh fields of Elastic's system package.

The host is the observer: observer.vendor/product "linux", observer.type "host", host.os.type
"linux" (OpenSSH also runs on BSDs and appliances; a declared device in the sources file says so).
"""

from __future__ import annotations

import ipaddress
import re

from soc.model import set_path

from . import register_message
from .base import Doc, ParseContext
from .kv import set_action, set_host_os

# Names that sshd writes verbatim may hold spaces; bounded lazy groups keep matching linear.
_USER = r"(.{0,256}?)"
_ADDR_PORT = r" (\S{1,256}) port (\d{1,5})"

_LOGIN = re.compile(
    rf"(Accepted|Failed) (\S{{1,64}}) for (invalid user )?{_USER} from{_ADDR_PORT}"
    r"(?: ssh\d?)?(?:: (.+))?"
)
_INVALID = re.compile(rf"Invalid user {_USER} from (\S{{1,256}})(?: port (\d{{1,5}}))?\s*$")
_CLOSED = re.compile(
    r"(Connection closed by|Disconnected from)"
    rf"(?: (?:authenticating|invalid) user {_USER}| user {_USER})?{_ADDR_PORT}( \[preauth\])?"
)
_MAX_ATTEMPTS = re.compile(
    r"error: maximum authentication attempts exceeded for "
    rf"(invalid user )?{_USER} from{_ADDR_PORT}"
)
_NO_IDENT = re.compile(
    r"Did not receive identification string from (\S{1,256})(?: port (\d{1,5}))?"
)


def _set_source(doc: Doc, addr: str, port: str | None) -> None:
    """source.ip (or source.domain when sshd logged a host name), source.port and related.ip."""
    try:
        ip = str(ipaddress.ip_address(addr))
    except ValueError:
        set_path(doc, "source.address", addr)
        set_path(doc, "source.domain", addr)
    else:
        set_path(doc, "source.address", addr)
        set_path(doc, "source.ip", ip)
        _append_related(doc, "ip", ip)
    if port is not None:
        set_path(doc, "source.port", int(port))


def _set_user(doc: Doc, name: str | None) -> None:
    """user.name and related.user, unless sshd logged an empty name."""
    if name:
        set_path(doc, "user.name", name)
        _append_related(doc, "user", name)


def _append_related(doc: Doc, kind: str, value: str) -> None:
    """Add a value to related.<kind> once."""
    related = doc.setdefault("related", {})
    values = related.setdefault(kind, [])
    if value not in values:
        values.append(value)


def _set_event(
    doc: Doc, action: str, category: list[str], type_: list[str], outcome: str = ""
) -> None:
    """The event.* classification of an sshd message (one that was understood: the host observes)."""
    set_host_os(doc, "linux")
    set_action(doc, action, category, type_, outcome)


@register_message("linux_sshd", programs=("sshd",))
def enrich_sshd(message: str, doc: Doc, ctx: ParseContext) -> None:
    """Read an OpenSSH sshd message into ECS fields of `doc`, in place."""
    if message.startswith(("pam_", "PAM ")):
        # sshd's PAM stack (pam_faillock lockouts, pam_unix failures): the Linux auth parser's.
        from .linux_auth import parse_linux_auth

        parse_linux_auth(message, doc, ctx)
        return
    set_path(doc, "event.module", "system")
    set_path(doc, "event.dataset", "system.auth")
    head = message[:32]
    if head.startswith(("Accepted ", "Failed ")):
        m = _LOGIN.match(message)
        if m is None:
            return
        verdict, method, _invalid, user, addr, port, signature = m.groups()
        accepted = verdict == "Accepted"
        _set_event(
            doc,
            "ssh_login",
            ["authentication", "session"] if accepted else ["authentication"],
            ["start"],
            "success" if accepted else "failure",
        )
        _set_user(doc, user)
        _set_source(doc, addr, port)
        set_path(doc, "system.auth.ssh.event", verdict)
        set_path(doc, "system.auth.ssh.method", method)
        if signature:
            set_path(doc, "system.auth.ssh.signature", signature)
    elif head.startswith("Invalid user "):
        m = _INVALID.match(message)
        if m is None:
            return
        user, addr, port = m.groups()
        _set_event(doc, "ssh_invalid_user", ["authentication"], ["info"], "failure")
        _set_user(doc, user)
        _set_source(doc, addr, port)
        set_path(doc, "system.auth.ssh.event", "Invalid")
    elif head.startswith(("Connection closed by ", "Disconnected from ")):
        m = _CLOSED.match(message)
        if m is None:
            return
        verb, preauth_user, session_user, addr, port, preauth = m.groups()
        closed = verb.startswith("Connection")
        if session_user is not None and not preauth:
            # After authentication: the end of a session.
            _set_event(doc, "ssh_disconnected", ["authentication", "session"], ["end"])
        else:
            action = "ssh_connection_closed" if closed else "ssh_disconnected"
            _set_event(doc, action, ["authentication"], ["info"])
        _set_user(doc, preauth_user or session_user)
        _set_source(doc, addr, port)
    elif head.startswith("error: maximum authentication"):
        m = _MAX_ATTEMPTS.match(message)
        if m is None:
            return
        _invalid, user, addr, port = m.groups()
        _set_event(doc, "ssh_max_auth_attempts_exceeded", ["authentication"], ["info"], "failure")
        _set_user(doc, user)
        _set_source(doc, addr, port)
    elif head.startswith("Did not receive identification"):
        m = _NO_IDENT.match(message)
        if m is None:
            return
        addr, port = m.groups()
        # A connection to the SSH service that never began the protocol (a scanner, a probe):
        # pre-authentication, like "Connection closed by ... [preauth]".
        _set_event(doc, "ssh_no_identification", ["network", "authentication"], ["info"])
        _set_source(doc, addr, port)
        if "ip" in doc.get("source", {}):
            set_path(doc, "system.auth.ssh.dropped_ip", doc["source"]["ip"])
