"""What every parser receives and returns: the parsing context, the result and the error."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson

Doc = dict[str, Any]


@dataclass(frozen=True, slots=True)
class DeviceHint:
    """The device a source is declared to be in the sources file (`vendor`, `product`, `type`).

    The operator knows which box sends to a source; the line does not always say (OEM products
    send other brands' formats byte for byte). Empty strings mean "not declared".
    """

    vendor: str = ""
    product: str = ""
    type: str = ""  # ECS observer.type: firewall, ids, ips, waf, bastion, host...


@dataclass(frozen=True, slots=True)
class ParseContext:
    """Facts about the message that do not come from its text."""

    source_id: str
    received_at: datetime  # timezone-aware, UTC
    timezone: ZoneInfo  # the device's zone, for timestamps that carry none (RFC 3164)
    tenant: str = ""
    peer: str = ""
    device: DeviceHint | None = None  # the configured device of the source, if declared


@dataclass(slots=True)
class Parsed:
    """An ECS document (nested dicts) and whether its @timestamp came from the device."""

    doc: Doc
    device_timestamped: bool
    tags: list[str] = field(default_factory=list)


class ParseError(Exception):
    """The text cannot be read as this format. `reason` is a short stable code for metrics."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def decode_json(text: str, reason: str) -> Any:
    """The JSON value of text; ParseError(reason) when text is not JSON."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ParseError(reason, str(exc)) from exc


# A format parser: the decoded line and its context -> an ECS document.
Parser = Callable[[str, ParseContext], Parsed]
# A message parser: reads a device's message body and enriches, in place, the ECS document
# the envelope made (an empty one for a line without envelope). Raises ParseError when the
# body is not what it expects.
MessageParser = Callable[[str, Doc, ParseContext], None]
# A message parser of a format several products share, told which product the source is:
# (product, observer.type) to use instead of what the body says (None: read it from the body).
ProductParser = Callable[[str, Doc, ParseContext, tuple[str, str] | None], None]
