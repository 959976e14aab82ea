"""What a collector does when Kafka does not confirm, and what it counts when its spool is full: a line is counted as dropped only if Kafka
never got it. A record that had gone out when its send failed may have been written (the broker
stopped before it answered); the drills found such lines indexed while counted as dropped. They
are counted apart, as unconfirmed. No Kafka here: the sink is never started, the failures are
handed to it as aiokafka reports them."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError

from collectors.kafka_sink import KafkaSink, Ticket
from soc.metrics import REGISTRY
from soc.model import RawBatch

STAGE = "collector.test_accounting"


def counted(name: str) -> float:
    return REGISTRY.get_sample_value(f"soc_{name}_total", {"stage": STAGE, "reason": "spool_full"}) or 0.0


def record(n: int) -> bytes:
    return RawBatch(source_id="fw", collector="test", peer="127.0.0.1:514", received_at_ns=0,
                    messages=[b"x" * 100] * n).encode()


def test_a_full_spool_counts_refused_sends_as_dropped_and_failed_deliveries_as_unconfirmed(tmp_path: Path) -> None:
    async def run() -> None:
        sink = KafkaSink("127.0.0.1:1", "soc.raw", STAGE, tmp_path / "spool", spool_max_bytes=64)
        # A send aiokafka refused before it went out (no room in its accumulator): never in Kafka.
        sink._failed(record(2), KafkaTimeoutError(), 2, None)
        # A record that went out and whose delivery then failed: maybe in Kafka.
        fut: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        fut.set_exception(KafkaConnectionError())
        sink._pending[fut] = 0.0
        sink._batch_done(fut, [(record(3), 3, None)], 3)
        # With a ticket (HTTP), neither: the input answers 503 and its sender resends.
        ticket = Ticket()
        sink._failed(record(4), KafkaTimeoutError(), 4, ticket)
        assert ticket.refused == 4
        sink.spool.close()

    dropped, unconfirmed = counted("dropped"), counted("unconfirmed")
    asyncio.run(run())
    assert counted("dropped") - dropped == 2
    assert counted("unconfirmed") - unconfirmed == 3


def never_confirmed(tmp_path: Path, spooling: bool) -> tuple[bool, int, int]:
    """A sink with one send in flight that Kafka never confirms, its drain loop run until that
    send is settled: (spooling, records in the spool, lines refused on the ticket)."""

    async def run() -> tuple[bool, int, int]:
        sink = KafkaSink("127.0.0.1:1", "soc.raw", STAGE, tmp_path / "spool", request_timeout_ms=300)
        sink.spooling = spooling
        ticket = Ticket()
        fut: asyncio.Future[object] = asyncio.get_running_loop().create_future()  # never confirmed
        sink._pending[fut] = time.monotonic()
        fut.add_done_callback(lambda f: sink._batch_done(f, [(record(3), 3, ticket)], 3))
        drain = asyncio.create_task(sink._drain_rounds())
        try:
            await asyncio.wait_for(asyncio.gather(*list(sink._pending), return_exceptions=True), timeout=10)
        finally:
            while not drain.done():  # Python 3.11's wait_for can swallow a cancel (bpo-42130)
                drain.cancel()
                await asyncio.sleep(0.05)
        kept = len(sink.spool)
        sink.spool.close()
        return sink.spooling, kept, ticket.refused

    return asyncio.run(run())


def test_a_record_kafka_does_not_confirm_within_the_request_timeout_goes_to_the_spool(tmp_path: Path) -> None:
    """aiokafka's idempotent producer retries a sent batch for as long as the broker is away and
    never fails it; an HTTP request waiting for its batch would wait for the whole outage (the
    spool-full drill saw a sender wait 201 s and never get its 503). After the request timeout
    the sink spools the record instead: the input is answered, and nothing is lost."""
    assert never_confirmed(tmp_path, spooling=False) == (True, 1, 0)


def test_while_spooling_a_send_never_confirmed_does_not_hold_up_the_drain(tmp_path: Path) -> None:
    """The drain waits for the sends in flight before it re-sends the spool, so that the spool
    goes after them; one that is never confirmed (made on a producer that is never started) held
    it for ever in the spool-full drill: the spool never drained after Kafka came back."""
    assert never_confirmed(tmp_path, spooling=True) == (True, 1, 0)
