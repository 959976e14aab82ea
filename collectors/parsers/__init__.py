"""The parser registry: envelopes, message formats, detection and dispatch.

Two kinds of parser, each one module that registers itself with a decorator (every module of
this package is imported on start, so adding a format touches no other file):

- an **envelope** (`@register("rfc5424")`) reads a whole line: RFC 5424, RFC 3164, JSON;
- a **message format** (`@register_message("huawei_usg", sniff=..., programs=...)`) reads the
  body a device put inside the envelope (or a whole line that has no envelope) and enriches the
  ECS document in place: a vendor's firewall log, CEF, Suricata EVE JSON, an sshd message...
  A format several products share registers one more format per product a source can be
  configured as (`register_product("huawei_nip", parse_vrp, ("nip", "ips"))`).

`parse` chooses, in this order: the message format the source is configured with; for syslog,
a message format registered for the app name; then the first message format whose `sniff`
accepts the body (by priority, cheapest checks first). A syslog line that no message format
claims is still an event (its header is understood); a bare line nothing claims is an error.
A message format that fails on a body it claimed leaves what the envelope understood, tagged
`_message_unparsed` with the reason in error.message, for review.

A source declared as a device (`ctx.device`, from `vendor`/`product`/`type` in the sources file)
has the last word on observer.vendor/product/type: OEM products send other brands' formats byte
for byte, and only the operator knows which box it is. A line from a declared device that no
message format classified (no event.category) is still that device's event: event.category
["host"], event.type ["info"], its IP addresses in related.ip, tagged `_parse_partial` for
review; a line that could not be read at all becomes such an event too, instead of an error.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from soc.model import get_path, set_path

from .base import DeviceHint, Doc, MessageParser, ParseContext, Parsed, ParseError, Parser, ProductParser
from .kv import relate_ips

__all__ = [
    "MESSAGE_FORMATS",
    "PARSERS",
    "DeviceHint",
    "Doc",
    "MessageFormat",
    "ParseContext",
    "ParseError",
    "Parsed",
    "Parser",
    "detect_format",
    "parse",
    "register",
    "register_message",
    "register_product",
]


@dataclass(frozen=True, slots=True)
class MessageFormat:
    """A device's message format: how to recognise a body and how to read it."""

    name: str
    parse: MessageParser
    sniff: Callable[[str], bool] | None = None
    programs: tuple[str, ...] = ()
    priority: int = 100  # lower is tried first


PARSERS: dict[str, Parser] = {}
MESSAGE_FORMATS: dict[str, MessageFormat] = {}
_BY_PROGRAM: dict[str, MessageFormat] = {}
_SNIFFERS: list[MessageFormat] = []

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


# A file-tail line whose forwarder wrote an RFC 3339 time and no PRI:
# "2026-05-17T18:00:01+00:00 host prog[pid]: msg" (the RFC 3164 parser reads that time).
_ISO_START = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})? \S+ \S")


_M = TypeVar("_M", bound=MessageParser)


def register_message(
    name: str,
    *,
    sniff: Callable[[str], bool] | None = None,
    programs: tuple[str, ...] = (),
    priority: int = 100,
) -> Callable[[_M], _M]:
    """Decorator: a message format under `name`, recognised by `sniff` or a syslog app name."""

    def deco(fn: _M) -> _M:
        fmt = MessageFormat(name, fn, sniff, programs, priority)
        _add(MESSAGE_FORMATS, name, fn, fmt)
        for app in programs:
            _add(_BY_PROGRAM, app, fn, fmt)
        if sniff is not None:
            _SNIFFERS.append(fmt)
            _SNIFFERS.sort(key=lambda f: (f.priority, f.name))
        return fn

    return deco


def register_product(name: str, parse: ProductParser, product: tuple[str, str]) -> None:
    """A message format `name` for a source configured as one product of a format several share:
    `parse` told (product, observer.type) instead of reading them from the body."""

    def parse_as_product(body: str, doc: Doc, ctx: ParseContext) -> None:
        parse(body, doc, ctx, product)

    parse_as_product.__module__ = parse.__module__
    parse_as_product.__name__ = parse_as_product.__qualname__ = f"parse_{name}"
    register_message(name)(parse_as_product)


def _add(table: dict, name: str, fn: Callable, entry: object = None) -> None:
    """Register under `name`, refusing a second, different function for the same name."""
    old = table.get(name)
    old_fn = getattr(old, "parse", old)
    if old is not None and (old_fn.__module__, old_fn.__qualname__) != (fn.__module__, fn.__qualname__):
        raise ValueError(f"parser name {name!r} is already registered by {old_fn.__module__}")
    table[name] = fn if entry is None else entry


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
    elif _BSD_START.match(head) or _ISO_START.match(head):
        return "rfc3164"
    raise ParseError("unknown_format", f"cannot detect the format of {head[:32]!r}")


def _sniffed(body: str) -> MessageFormat | None:
    for fmt in _SNIFFERS:
        if fmt.sniff is not None and fmt.sniff(body):
            return fmt
    return None


def _apply(fmt: MessageFormat, body: str, parsed: Parsed, ctx: ParseContext, bare: bool) -> None:
    """Run a message format; on failure keep what the envelope understood, tagged for review."""
    try:
        fmt.parse(body, parsed.doc, ctx)
    except ParseError as exc:
        if bare:
            raise
        parsed.tags.append("_message_unparsed")
        set_path(parsed.doc, "error.message", f"{fmt.name}: {exc}")
        return
    if bare and "@timestamp" in parsed.doc:
        parsed.device_timestamped = True


def parse(text: str, format_hint: str, ctx: ParseContext) -> Parsed:
    """Parse one line into an ECS document (see the module docstring for the order)."""
    if not text or text.isspace():
        raise ParseError("empty", "empty line")
    device = ctx.device
    if device is None or not (device.vendor or device.product or device.type):
        return _parse(text, format_hint, ctx)
    try:
        parsed = _parse(text, format_hint, ctx)
    except ParseError as exc:
        # A declared device's line that nothing could read: still that device's event.
        doc: Doc = {"message": text.strip(" \ufeff\r\n"), "event": {"kind": "event"}}
        parsed = Parsed(doc=doc, device_timestamped=False)
        set_path(parsed.doc, "error.message", str(exc))
    _declared(parsed, device, text)
    return parsed


# The tag of a line understood only in part (its envelope, not its message), for review.
TAG_PARTIAL = "_parse_partial"


def _declared(parsed: Parsed, device: DeviceHint, text: str) -> None:
    """Apply the source's declared device: observer.* from it; an unclassified line is a host event."""
    doc = parsed.doc
    for key in ("vendor", "product", "type"):
        value = getattr(device, key).strip()
        if value:
            set_path(doc, f"observer.{key}", value)
    if get_path(doc, "event.category"):
        return
    if not get_path(doc, "event.kind"):
        set_path(doc, "event.kind", "event")
    set_path(doc, "event.category", ["host"])
    if not get_path(doc, "event.type"):
        set_path(doc, "event.type", ["info"])
    if TAG_PARTIAL not in parsed.tags:
        parsed.tags.append(TAG_PARTIAL)
    relate_ips(doc, text)


def _parse(text: str, format_hint: str, ctx: ParseContext) -> Parsed:
    """The envelope, then the message format (without the declared device)."""
    hint = format_hint.strip().lower()
    configured = MESSAGE_FORMATS.get(hint)
    stripped = text.lstrip(" \ufeff")
    if hint in PARSERS:
        envelope: str | None = hint
    elif hint == "syslog" and stripped.startswith("{"):
        envelope = "json"  # JSON lines sent over a syslog transport without a header
    elif hint == "syslog" and stripped.startswith("<"):
        envelope = "rfc5424" if _RFC5424_START.match(stripped) else "rfc3164"
    else:
        try:
            envelope = detect_format(text)
        except ParseError:
            envelope = None

    if envelope is None or envelope == "json":
        # A line without a syslog header: a configured or sniffed format reads it whole.
        fmt = configured or _sniffed(stripped)
        if fmt is not None:
            parsed = Parsed(doc={"event": {"kind": "event"}}, device_timestamped=False)
            _apply(fmt, stripped, parsed, ctx, bare=True)
            return parsed
        if envelope is None:
            detect_format(text)  # raises the precise reason
        return PARSERS["json"](text, ctx)

    parsed = PARSERS[envelope](text, ctx)
    body = parsed.doc.get("message")
    if envelope in SYSLOG_FORMATS and isinstance(body, str):
        app = get_path(parsed.doc, "process.name")
        fmt = configured or (_BY_PROGRAM.get(app) if isinstance(app, str) else None) or _sniffed(body)
        if fmt is not None:
            _apply(fmt, body, parsed, ctx, bare=False)
    return parsed


# Every module of this package registers its parsers when imported.
for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")
