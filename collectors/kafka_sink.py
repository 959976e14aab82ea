"""Where every collector sends what it receives: soc.raw, through an idempotent producer.

Records queue in memory (bounded) and a sender task hands them to aiokafka (acks from all
in-sync replicas, idempotent), which batches them per partition. A TCP, file or HTTP input
awaits room in the queue, so a slow Kafka slows the senders instead of losing lines; UDP cannot
wait, so a full queue drops and counts the drop.

When Kafka cannot take records (a send fails after the producer's own retries), the sink
switches to the disk spool (collectors/spool.py): that record and every later one are appended
there, in order, and a drain task re-sends from the head of the spool until it is empty, then
the sink goes back to sending directly. The spool is bounded; when it is full a record is
dropped with reason `spool_full`, counted and logged — the only way a line is lost, and a loud one.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner

from collectors.spool import DiskSpool, SpoolFull
from soc.metrics import DROPPED, ERRORS, IN_FLIGHT, RECEIVED, RECEIVED_BYTES, SENT, SPOOL_BYTES, SPOOLED
from soc.model import RawRecord

log = logging.getLogger(__name__)

DRAIN_BATCH = 500
SEND_CHUNK = 5000
_PARTITIONER = DefaultPartitioner()


class KafkaSink:
    """One producer per collector process, with the same metrics for every collector."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        stage: str,
        spool_dir: Path,
        spool_max_bytes: int = 1024**3,
        queue_size: int = 20000,
        request_timeout_ms: int = 15000,
    ) -> None:
        self.topic = topic
        self.stage = stage
        self.queue: asyncio.Queue[RawRecord] = asyncio.Queue(maxsize=queue_size)
        self._bootstrap = bootstrap
        self._request_timeout_ms = request_timeout_ms
        self.producer = self._new_producer()
        self.spool = DiskSpool(spool_dir, spool_max_bytes)
        self.spooling = len(self.spool) > 0  # a restart with a non-empty spool drains it first
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        self._pending: set[asyncio.Future[object]] = set()
        SPOOL_BYTES.labels(stage).set(self.spool.bytes)

    def _new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            enable_idempotence=True,
            acks="all",
            linger_ms=5,
            max_batch_size=512 * 1024,
            max_request_size=4 * 1024 * 1024,
            request_timeout_ms=self._request_timeout_ms,
            client_id=self.stage,
        )

    async def _suspend(self) -> None:
        """Stop the producer during an outage: aiokafka would otherwise retry its connection in a
        tight loop (about 15,000 attempts a second, measured). The drain loop starts a new one."""
        producer, self._started = self.producer, False
        self.producer = self._new_producer()
        try:
            await asyncio.wait_for(producer.stop(), timeout=self._request_timeout_ms / 1000 + 5)
        except (TimeoutError, KafkaError):
            pass
        for fut in list(self._pending):
            fut.cancel()  # its callback puts the record in the spool

    async def start(self) -> None:
        try:
            await self.producer.start()
            self._started = True
        except KafkaError as exc:
            # Kafka is down at start: collect anyway, into the spool.
            log.error("%s: Kafka unreachable at start (%s); spooling to %s", self.stage, exc, self.spool.dir)
            self.spooling = True
        self._tasks = [
            asyncio.create_task(self._run(), name=f"{self.stage}-sender"),
            asyncio.create_task(self._drain(), name=f"{self.stage}-drain"),
        ]

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
            records = [await self.queue.get()]
            while len(records) < SEND_CHUNK and not self.queue.empty():
                records.append(self.queue.get_nowait())
            if self.spooling:
                for record in records:
                    self._to_spool(record.encode())
            else:
                try:
                    await self._send_many(records)
                except Exception:  # noqa: BLE001 - the sender must never die: keep the records
                    log.exception("%s: unexpected error while sending; spooling %d records", self.stage, len(records))
                    self.spooling = True
                    for record in records:
                        self._to_spool(record.encode())
            for _ in records:
                self.queue.task_done()

    async def _send_many(self, records: list[RawRecord]) -> None:
        """Append records to per-partition batches ourselves: one future per batch instead of
        one `send` per record (the per-record path was the collector's bottleneck)."""
        try:
            partitions = sorted(await self.producer.partitions_for(self.topic))
        except KafkaError as exc:
            for record in records:
                self._failed(record.encode(), exc)
            return
        by_partition: dict[int, list[tuple[bytes, bytes]]] = {}
        for record in records:
            key = record.source_id.encode()
            # The producer's own key partitioner (murmur2), so a source keeps one partition.
            part = _PARTITIONER(key, partitions, partitions)
            by_partition.setdefault(part, []).append((key, record.encode()))
        for part, items in by_partition.items():
            i = 0
            while i < len(items):
                batch = self.producer.create_batch()
                start = i
                while i < len(items) and batch.append(key=items[i][0], value=items[i][1], timestamp=None) is not None:
                    i += 1
                if i == start:  # one record larger than a batch: the ordinary path handles it
                    await self._send(items[i][1], items[i][0])
                    i += 1
                    continue
                values = [v for _, v in items[start:i]]
                try:
                    fut = await self.producer.send_batch(batch, self.topic, partition=part)
                except KafkaError as exc:
                    for v in values:
                        self._failed(v, exc)
                    continue
                IN_FLIGHT.labels(self.stage).inc(len(values))
                self._pending.add(fut)
                fut.add_done_callback(lambda f, vs=values: self._batch_done(f, vs))

    def _batch_done(self, fut: asyncio.Future[object], values: list[bytes]) -> None:
        self._pending.discard(fut)
        IN_FLIGHT.labels(self.stage).dec(len(values))
        exc = fut.exception() if not fut.cancelled() else asyncio.CancelledError()
        if exc is None:
            SENT.labels(self.stage).inc(len(values))
            return
        for v in values:
            self._failed(v, exc)

    async def _send(self, value: bytes, key: bytes) -> None:
        try:
            fut = await self.producer.send(self.topic, value=value, key=key)
        except KafkaError as exc:
            self._failed(value, exc)
            return
        IN_FLIGHT.labels(self.stage).inc()
        self._pending.add(fut)
        fut.add_done_callback(lambda f, v=value: self._done(f, v))

    def _done(self, fut: asyncio.Future[object], value: bytes) -> None:
        self._pending.discard(fut)
        IN_FLIGHT.labels(self.stage).dec()
        exc = fut.exception() if not fut.cancelled() else asyncio.CancelledError()
        if exc is None:
            SENT.labels(self.stage).inc()
        else:
            self._failed(value, exc)

    def _failed(self, value: bytes, exc: BaseException) -> None:
        ERRORS.labels(self.stage, type(exc).__name__).inc()
        if not self.spooling:
            log.error("%s: Kafka did not take a record (%s: %s); spooling to %s until it does",
                      self.stage, type(exc).__name__, exc, self.spool.dir)
            self.spooling = True
            if self._started:
                self._tasks.append(asyncio.ensure_future(self._suspend()))
        self._to_spool(value)

    def _to_spool(self, value: bytes) -> None:
        try:
            self.spool.append(value)
        except SpoolFull as exc:
            DROPPED.labels(self.stage, "spool_full").inc()
            log.error("%s: %s; a record was dropped", self.stage, exc)
            return
        SPOOLED.labels(self.stage).inc()
        SPOOL_BYTES.labels(self.stage).set(self.spool.bytes)

    async def _drain(self) -> None:
        """While spooling: re-send from the head of the spool, in order; then resume direct sends."""
        backoff = 0.5
        while True:
            if not self.spooling:
                await asyncio.sleep(0.2)
                continue
            if self._pending:
                # Let in-flight sends finish (or fail into the spool) before the spool goes first.
                await asyncio.wait(list(self._pending), timeout=1.0)
                continue
            if not self._started:
                try:
                    await self.producer.start()
                    self._started = True
                except KafkaError as exc:
                    ERRORS.labels(self.stage, type(exc).__name__).inc()
                    await self._suspend()
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 10.0)
                    continue
            batch = self.spool.peek(DRAIN_BATCH)
            if not batch:
                self.spooling = False
                log.warning("%s: spool drained; sending directly again", self.stage)
                continue
            try:
                futs = [await self.producer.send(self.topic, value=v, key=RawRecord.decode(v).source_id.encode())
                        for v in batch]
                await asyncio.gather(*futs)
            except KafkaError as exc:
                ERRORS.labels(self.stage, type(exc).__name__).inc()
                await self._suspend()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            backoff = 0.5
            self.spool.pop(len(batch))
            SENT.labels(self.stage).inc(len(batch))
            SPOOL_BYTES.labels(self.stage).set(self.spool.bytes)

    async def flush(self) -> None:
        """Wait until everything queued is acknowledged by Kafka or safely in the spool."""
        await self.queue.join()
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
        self.spool.flush()

    async def stop(self) -> None:
        try:
            await asyncio.wait_for(self.flush(), timeout=30)
        except TimeoutError:
            log.error("%s: %d records still queued at shutdown", self.stage, self.queue.qsize())
        for task in self._tasks:
            task.cancel()
        try:
            await asyncio.wait_for(self.producer.stop(), timeout=10)
        except (TimeoutError, KafkaError):
            pass
        self.spool.close()
