"""The parser registry: format detection, dispatch by hint, and syslog program enrichment.

Adding a format is one module that decorates its parser with `@register("name")` plus one
import line at the bottom of this file; adding a program parser is the same with
`@register_program("app")`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from soc.model import get_path

from .base import Doc, ParseContext, Parsed, ParseError, Parser, ProgramParser

__all__ = [
    "PARSERS",
    "PROGRAM_PARSERS",
    "Doc",
    "ParseContext",
    "ParseError",
    "Parsed",
    "Parser",
    "ProgramParser",
    "detect_format",
    "parse",
    "register",
    "register_program",
]

PARSERS: dict[str, Parser] = {}
PROGRAM_PARSERS: dict[str, ProgramParser] = {}

SYSLOG_FORMATS = frozenset({"rfc5424", "rfc3164"})

# "<PRI>VERSION SP": RFC 5424 (VERSION is 1 today; 1-2 digits leaves room for the future).
_RFC5424_START = re.compile(r"<\d{1,3}>[1-9]\d? ")
# Anything in angle brackets at the very start that looks like a PRI (even an invalid one,
# "<-1>" and "<255>" are in the wild): BSD syslog, whose parser judges the PRI itself.
_PRI_START = re.compile(r"<-?\d{1,4}>")
# A file-tail line without PRI: "Feb 20 08:35:22 host prog[pid]: msg" (day may be padded,
# some devices put the year after the day: "Aug 6 2011 20:34:46").
_BSD_START = re.compile(
    r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) {1,2}\d{1,2}(?: \d{4})?"
    r" \d{1,2}:\d{2}:\d{2}\b",
    re.IGNORECASE,
)


def register(name: str) -> Callable[[Parser], Parser]:
    """Decorator: make a format parser available under `name`."""

    def deco(fn: Parser) -> Parser:
        _add(PARSERS, name, fn)
        return fn

    return deco


def register_program(*app_names: str) -> Callable[[ProgramParser], ProgramParser]:
    """Decorator: enrich syslog documents whose app name (process.name) is one of `app_names`."""

    def deco(fn: ProgramParser) -> ProgramParser:
        for app in app_names:
            _add(PROGRAM_PARSERS, app, fn)
        return fn

    return deco


def _add(table: dict, name: str, fn: Callable) -> None:
    """Register `fn` under `name`, refusing a second, different function for the same name."""
    old = table.get(name)
    if old is not None and (old.__module__, old.__qualname__) != (fn.__module__, fn.__qualname__):
        raise ValueError(f"parser name {name!r} is already registered by {old.__module__}")
    table[name] = fn


def detect_format(text: str) -> str:
    """Name the format of one line: "json", "rfc5424" or "rfc3164"; ParseError otherwise."""
    head = text[:64].lstrip(" \t\r\n\ufeff")
    if not head:
        raise ParseError("empty", "empty line")
    first = head[0]
    if first == "{":
        return "json"
    if first == "<":
        if _RFC5424_START.match(head):
            return "rfc5424"
        if _PRI_START.match(head):
            return "rfc3164"
    elif _BSD_START.match(head):
        return "rfc3164"
    raise ParseError("unknown_format", f"cannot detect the format of {head[:32]!r}")


def parse(text: str, format_hint: str, ctx: ParseContext) -> Parsed:
    """Parse one line with the parser its hint names, else the detected one, then enrich."""
    if not text or text.isspace():
        raise ParseError("empty", "empty line")
    hint = format_hint.strip().lower()
    if hint in PARSERS:
        fmt = hint
    elif hint == "syslog" and text.lstrip(" \ufeff").startswith("{"):
        fmt = "json"  # JSON lines sent over a syslog transport without a header
    elif hint == "syslog":
        fmt = "rfc5424" if _RFC5424_START.match(text.lstrip(" \ufeff")) else "rfc3164"
    else:
        fmt = detect_format(text)
    parsed = PARSERS[fmt](text, ctx)
    if fmt in SYSLOG_FORMATS:
        app = get_path(parsed.doc, "process.name")
        if isinstance(app, str):
            program = PROGRAM_PARSERS.get(app)
            if program is not None:
                message = parsed.doc.get("message")
                if isinstance(message, str):
                    program(message, parsed.doc)
    return parsed


# Format and program parsers register themselves on import: one line per module.
from . import syslog_rfc5424  # noqa: E402,F401
from . import syslog_rfc3164  # noqa: E402,F401
from . import json_lines  # noqa: E402,F401
from . import linux_sshd  # noqa: E402,F401
