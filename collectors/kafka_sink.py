"""Where every collector sends what it receives: soc.raw, through an idempotent producer.

Records queue in memory (bounded) and a sender task hands them to aiokafka, which batches
them per partition. A TCP or HTTP input awaits room in the queue, so a slow Kafka slows the
senders instead of losing lines; UDP cannot wait, so a full queue drops and counts the drop.
A send that fails is retried with backoff; the disk spool for a long Kafka outage is issue 3.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from soc.metrics import DROPPED, ERRORS, IN_FLIGHT, RECEIVED, RECEIVED_BYTES, RETRIES, SENT
from soc.model import RawRecord

log = logging.getLogger(__name__)

SEND_ATTEMPTS = 8


class KafkaSink:
    """One producer per collector process, with the same metrics for every collector."""

    def __init__(self, bootstrap: str, topic: str, stage: str, queue_size: int = 20000) -> None:
        self.topic = topic
        self.stage = stage
        self.queue: asyncio.Queue[RawRecord] = asyncio.Queue(maxsize=queue_size)
        self.producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            enable_idempotence=True,
            acks="all",
            linger_ms=5,
            max_batch_size=512 * 1024,
            max_request_size=4 * 1024 * 1024,
            request_timeout_ms=30000,
            client_id=stage,
        )
        self._sender: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Future[None]] = set()

    async def start(self) -> None:
        await self.producer.start()
        self._sender = asyncio.create_task(self._run(), name=f"{self.stage}-sender")

    def offer(self, record: RawRecord) -> bool:
        """Queue without waiting (UDP); False, counted as dropped, when the queue is full."""
        self._count_in(record)
        try:
            self.queue.put_nowait(record)
        except asyncio.QueueFull:
            DROPPED.labels(self.stage, "queue_full").inc()
            return False
        return True

    async def put(self, record: RawRecord) -> None:
        """Queue, waiting for room (TCP, HTTP, files): back-pressure instead of loss."""
        self._count_in(record)
        await self.queue.put(record)

    def _count_in(self, record: RawRecord) -> None:
        RECEIVED.labels(self.stage).inc()
        RECEIVED_BYTES.labels(self.stage).inc(len(record.message))

    async def _run(self) -> None:
        while True:
            record = await self.queue.get()
            await self._send(record, attempt=1)
            self.queue.task_done()

    async def _send(self, record: RawRecord, attempt: int) -> None:
        value = record.encode()
        try:
            fut = await self.producer.send(self.topic, value=value, key=record.source_id.encode())
        except KafkaError as exc:
            self._failed(record, attempt, exc)
            return
        IN_FLIGHT.labels(self.stage).inc()
        self._pending.add(fut)
        fut.add_done_callback(lambda f, r=record, a=attempt: self._done(f, r, a))

    def _done(self, fut: asyncio.Future[None], record: RawRecord, attempt: int) -> None:
        self._pending.discard(fut)
        IN_FLIGHT.labels(self.stage).dec()
        exc = fut.exception() if not fut.cancelled() else asyncio.CancelledError()
        if exc is None:
            SENT.labels(self.stage).inc()
        else:
            self._failed(record, attempt, exc)

    def _failed(self, record: RawRecord, attempt: int, exc: BaseException) -> None:
        ERRORS.labels(self.stage, type(exc).__name__).inc()
        if attempt >= SEND_ATTEMPTS:
            DROPPED.labels(self.stage, "kafka_unavailable").inc()
            log.error("%s: gave up on a record from %s after %d attempts: %s", self.stage, record.source_id,
                      attempt, exc)
            return
        RETRIES.labels(self.stage, type(exc).__name__).inc()
        delay = min(0.2 * 2**attempt, 10.0)
        asyncio.get_running_loop().call_later(
            delay, lambda: asyncio.ensure_future(self._send(record, attempt + 1))
        )

    async def flush(self) -> None:
        """Wait until everything queued has been acknowledged by Kafka."""
        await self.queue.join()
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
        await self.producer.flush()

    async def stop(self) -> None:
        try:
            await asyncio.wait_for(self.flush(), timeout=30)
        except TimeoutError:
            log.error("%s: %d records not acknowledged at shutdown", self.stage, self.queue.qsize() + len(self._pending))
        if self._sender is not None:
            self._sender.cancel()
        await self.producer.stop()
