"""Infogo ASM lines of the Chinese-vendor corpus: acceptance over the corpus and field values read from the lines."""

from __future__ import annotations

from collectors.parsers import parse
from soc.model import get_path

from .cn_acceptance import check_line, corpus_lines, ctx, raw_with

VENDORS = ('infogo',)
# Lines whose shape another vendor's devices send too; nothing in them names the brand.
SHARED: dict[str, str] = {
}
UNRECOGNIZED: tuple[str, ...] = ()


def test_every_infogo_line_is_recognized() -> None:
    records = [rec for v in VENDORS for rec in corpus_lines(v)]
    assert len(records) == 3
    failures = {}
    for rec in records:
        owner = next((o for needle, o in SHARED.items() if needle in rec["raw"]), None)
        if owner is not None:
            # A line the corpus also holds (byte for byte or in the same shape) under another
            # vendor: it is read as the shape's owner, everything else must still hold.
            doc = parse(rec["raw"], "syslog", ctx()).doc
            assert get_path(doc, "observer.vendor") == owner, rec["raw"][:80]
            continue
        if any(n in rec["raw"] for n in UNRECOGNIZED) or not rec["raw"].strip():
            continue
        problems = check_line(rec)
        if problems:
            failures[(rec["vendor"], rec["category"], rec["raw"][:90])] = problems
    assert not failures, failures


def _doc(vendor: str, needle: str) -> dict:
    return parse(raw_with(vendor, needle), "syslog", ctx()).doc


def _flow(d: dict) -> tuple:
    return (get_path(d, "source.ip"), get_path(d, "source.port"), get_path(d, "destination.ip"),
            get_path(d, "destination.port"))


def test_alarm() -> None:
    d = _doc("infogo", "非法外联")
    assert get_path(d, "host.ip") == ["192.168.44.50"] and get_path(d, "event.code") == "304"
