"""RFC 6587 framing of syslog over TCP (collectors.syslog.Framer), fuzzed with hypothesis.

A TCP stream arrives in chunks cut anywhere; whatever the cut, the framer must give back the
sender's messages, whole and in order, and skip only those over the size limit.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from collectors.syslog import Framer
from tests.unit.test_fuzz_parsers import FUZZ

BIG = 1 << 20


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


def run(framer: Framer, chunks: list[bytes]) -> list[bytes]:
    out: list[bytes] = []
    for chunk in chunks:
        out.extend(framer.feed(chunk))
    return out + framer.finish()


# Syslog lines: start with a PRI, no newline inside, no CR at the end.
line = st.builds(lambda body: b"<13>" + body, st.binary(max_size=300).map(lambda b: b.replace(b"\n", b" ").rstrip(b"\r")))
frame = st.binary(min_size=1, max_size=300).filter(lambda b: not b.endswith((b"\r", b"\n")))
cuts = st.lists(st.integers(min_value=0, max_value=10_000), max_size=30)


@FUZZ
@given(st.lists(line, min_size=1, max_size=40), cuts, st.booleans())
def test_newline_framing_gives_back_every_line_whatever_the_chunks(lines: list[bytes], cut: list[int], crlf: bool) -> None:
    end = b"\r\n" if crlf else b"\n"
    stream = b"".join(m + end for m in lines)
    assert run(Framer(BIG), chunked(stream, cut)) == lines


@FUZZ
@given(st.lists(frame, min_size=1, max_size=40), cuts)
def test_octet_counting_keeps_embedded_newlines_whatever_the_chunks(frames: list[bytes], cut: list[int]) -> None:
    stream = b"".join(str(len(m)).encode() + b" " + m for m in frames)
    assert run(Framer(BIG), chunked(stream, cut)) == frames


@FUZZ
@given(st.lists(frame, min_size=1, max_size=30), cuts, st.integers(min_value=1, max_value=200))
def test_an_over_long_frame_is_skipped_whole(frames: list[bytes], cut: list[int], max_len: int) -> None:
    stream = b"".join(str(len(m)).encode() + b" " + m for m in frames)
    framer = Framer(max_len)
    assert run(framer, chunked(stream, cut)) == [m for m in frames if len(m) <= max_len]
    assert framer.dropped == ["frame_too_long"] * sum(len(m) > max_len for m in frames)


@FUZZ
@given(st.lists(line, min_size=1, max_size=30), cuts, st.integers(min_value=4, max_value=200))
def test_an_over_long_line_is_skipped_and_the_next_line_kept(lines: list[bytes], cut: list[int], max_len: int) -> None:
    stream = b"".join(m + b"\n" for m in lines)
    framer = Framer(max_len)
    assert run(framer, chunked(stream, cut)) == [m for m in lines if len(m) <= max_len]
    assert len(framer.dropped) == sum(len(m) > max_len for m in lines)


@FUZZ
@given(st.binary(max_size=2000), cuts, st.integers(min_value=1, max_value=500))
def test_any_bytes_frame_without_error_and_nothing_is_invented(data: bytes, cut: list[int], max_len: int) -> None:
    out = run(Framer(max_len), chunked(data, cut))
    assert sum(map(len, out)) <= len(data)
    assert all(m in data for m in out)


def test_a_last_line_without_newline_is_kept() -> None:
    framer = Framer(BIG)
    assert framer.feed(b"<13>one\n<13>tw") == [b"<13>one"]
    assert framer.finish() == [b"<13>tw"]


def test_a_sender_that_breaks_octet_counting_falls_back_to_newlines() -> None:
    framer = Framer(BIG)
    assert framer.feed(b"7 <13>one<13>two\n<13>three\n") == [b"<13>one", b"<13>two", b"<13>three"]
