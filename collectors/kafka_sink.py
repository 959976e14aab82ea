"""Where every collector sends what it receives: soc.raw, through an idempotent producer.

Collectors hand over RawBatches: the lines they received together from one source (a TCP read,
a file chunk, an HTTP body, a few milliseconds of UDP datagrams). Batches queue in memory
(bounded) and a sender task appends them, one Kafka record per batch (split at MAX_BATCH_LINES /
MAX_BATCH_BYTES), to per-partition producer batches (acks from all in-sync replicas,
idempotent). Every metric counts lines, not Kafka records. A TCP, file or HTTP input
awaits room in the queue, so a slow Kafka slows the senders instead of losing lines; UDP cannot
wait, so a full queue drops and counts the drop.

When Kafka cannot take records (a send fails after the producer's own retries), the sink
switches to the disk spool (collectors/spool.py), and so it does when Kafka has not confirmed a
record within the request timeout (aiokafka's idempotent producer retries a sent batch for as
long as the broker is away and never fails it, so without this deadline an input waiting for
its batch, HTTP, would wait for the whole outage): that record and every later one are appended
there, in order, and a drain task re-sends from the head of the spool until it is empty, then
the sink goes back to sending directly. The spool is bounded; when it is full (its limit, reason
`spool_full`, or its file system, reason `spool_disk_full`) a record is dropped, counted and
logged — the only way a line is lost, and a loud one. A record that had gone out when its send
failed (the broker stopped before it answered, or the sink gave up on it during an outage) may
have been written all the same: if the full spool refuses it, it is counted apart, as
`soc_unconfirmed_total{reason}` (lost or delivered, not known), so that the dropped lines are
exactly the lines Kafka never got. An input that can tell its sender to retry
does so instead of losing anything: `full` says the spool refused its last record and has not
drained since, and a batch put with a Ticket has the lines the spool refused counted on it, not
dropped, so the HTTP collector answers 503 rather than 202 for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner

from collectors.spool import DiskSpool, SpoolFull
from soc.metrics import (DROPPED, ERRORS, IN_FLIGHT, RECEIVED, RECEIVED_BYTES, SENT, SPOOL_BYTES, SPOOLED,
                         UNCONFIRMED)
from soc.model import ContractError, RawBatch

log = logging.getLogger(__name__)

DRAIN_BATCH = 100  # spooled Kafka records (each a RawBatch) re-sent at a time
SEND_CHUNK = 1000  # queued batches taken per send round
MAX_BATCH_LINES = 5000
MAX_BATCH_BYTES = 1024 * 1024  # well under the producer's max_request_size
_PARTITIONER = DefaultPartitioner()


@dataclass
class Ticket:
    """Handed in with a batch by an input that can tell its sender to retry (HTTP): the lines of
    that batch the full spool refused, which the input then answers for (a 503) instead of
    them being counted as lost."""

    refused: int = 0


_Value = tuple[bytes, bytes, int, Ticket | None]  # key, Kafka record, lines, ticket


class KafkaSink:
    """One producer per collector process, with the same metrics for every collector."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        stage: str,
        spool_dir: Path,
        spool_max_bytes: int = 1024**3,
        queue_size: int = 2000,
        request_timeout_ms: int = 15000,
    ) -> None:
        self.topic = topic
        self.stage = stage
        self.queue: asyncio.Queue[tuple[RawBatch, Ticket | None]] = asyncio.Queue(maxsize=queue_size)
        self._bootstrap = bootstrap
        self._request_timeout_ms = request_timeout_ms
        self.producer = self._new_producer()
        self.spool = DiskSpool(spool_dir, spool_max_bytes)
        self.spooling = len(self.spool) > 0  # a restart with a non-empty spool drains it first
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        self._pending: dict[asyncio.Future[object], float] = {}  # in flight -> when it was sent (monotonic)
        self._partition_of: dict[bytes, int] = {}
        self.full = False  # the spool refused its last record and has not drained since
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
        self._give_up_pending()  # first: an input may wait for them
        try:
            await asyncio.wait_for(producer.stop(), timeout=self._request_timeout_ms / 1000 + 5)
        except (TimeoutError, KafkaError):
            pass
        self._give_up_pending()

    def _give_up_pending(self) -> None:
        """Cancel the sends in flight: their callbacks put the records in the spool."""
        for fut in list(self._pending):
            fut.cancel()

    def _overdue(self) -> float | None:
        """How long the oldest send in flight has waited, if longer than the request timeout."""
        oldest = min(self._pending.values(), default=None)
        waited = time.monotonic() - oldest if oldest is not None else 0.0
        return waited if waited > self._request_timeout_ms / 1000 else None

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

    def offer(self, batch: RawBatch) -> bool:
        """Queue without waiting (UDP); False, counted as dropped, when the queue is full."""
        self._count_in(batch)
        try:
            self.queue.put_nowait((batch, None))
        except asyncio.QueueFull:
            DROPPED.labels(self.stage, "queue_full").inc(len(batch.messages))
            return False
        return True

    async def put(self, batch: RawBatch, ticket: Ticket | None = None) -> None:
        """Queue, waiting for room (TCP, HTTP, files): back-pressure instead of loss. With a
        ticket, lines the full spool refuses are counted on it, not as dropped."""
        self._count_in(batch)
        await self.queue.put((batch, ticket))

    def _count_in(self, batch: RawBatch) -> None:
        RECEIVED.labels(self.stage).inc(len(batch.messages))
        RECEIVED_BYTES.labels(self.stage).inc(batch.nbytes)

    async def _run(self) -> None:
        while True:
            batches = [await self.queue.get()]
            while len(batches) < SEND_CHUNK and not self.queue.empty():
                batches.append(self.queue.get_nowait())
            values: list[_Value] = [(b.source_id.encode(), part.encode(), len(part.messages), t)
                                    for b, t in batches for part in b.split(MAX_BATCH_LINES, MAX_BATCH_BYTES)]
            if self.spooling:
                for _, value, n, t in values:
                    self._to_spool(value, n, t)
            else:
                try:
                    await self._send_many(values)
                except Exception:  # noqa: BLE001 - the sender must never die: keep the records
                    log.exception("%s: unexpected error while sending; spooling %d batches", self.stage, len(values))
                    self.spooling = True
                    for _, value, n, t in values:
                        self._to_spool(value, n, t)
            for _ in batches:
                self.queue.task_done()

    def _partition(self, key: bytes, partitions: list[int]) -> int:
        """The producer's own key partitioner (murmur2), so a source keeps one partition;
        cached, since it is pure Python."""
        part = self._partition_of.get(key)
        if part is None or part not in partitions:
            part = self._partition_of[key] = _PARTITIONER(key, partitions, partitions)
        return part

    async def _send_many(self, values: list[_Value]) -> None:
        """Append values to per-partition producer batches ourselves: one future per producer
        batch instead of one `send` per value."""
        try:
            partitions = sorted(await self.producer.partitions_for(self.topic))
        except KafkaError as exc:
            for _, value, n, t in values:
                self._failed(value, exc, n, t)
            return
        by_partition: dict[int, list[_Value]] = {}
        for item in values:
            by_partition.setdefault(self._partition(item[0], partitions), []).append(item)
        for part, items in by_partition.items():
            i = 0
            while i < len(items):
                if self.spooling:  # a send of this round failed: the rest goes to the spool, in order
                    for _, value, n, t in items[i:]:
                        self._to_spool(value, n, t)
                    break
                batch = self.producer.create_batch()
                start = i
                while i < len(items) and batch.append(key=items[i][0], value=items[i][1], timestamp=None) is not None:
                    i += 1
                if i == start:  # one value larger than a producer batch: the ordinary path handles it
                    await self._send(items[i][0], items[i][1], items[i][2], items[i][3])
                    i += 1
                    continue
                sent = [(v, n, t) for _, v, n, t in items[start:i]]
                try:
                    fut = await self.producer.send_batch(batch, self.topic, partition=part)
                except KafkaError as exc:
                    for v, n, t in sent:
                        self._failed(v, exc, n, t)
                    continue
                lines = sum(n for _, n, _ in sent)
                IN_FLIGHT.labels(self.stage).inc(lines)
                self._pending[fut] = time.monotonic()
                fut.add_done_callback(lambda f, vs=sent, k=lines: self._batch_done(f, vs, k))

    def _batch_done(self, fut: asyncio.Future[object], values: list[tuple[bytes, int, Ticket | None]],
                    lines: int) -> None:
        self._pending.pop(fut, None)
        IN_FLIGHT.labels(self.stage).dec(lines)
        exc = fut.exception() if not fut.cancelled() else asyncio.CancelledError()
        if exc is None:
            SENT.labels(self.stage).inc(lines)
            return
        for v, n, t in values:
            self._failed(v, exc, n, t, unconfirmed=True)  # it had gone out: Kafka may have it

    async def _send(self, key: bytes, value: bytes, n: int, ticket: Ticket | None) -> None:
        if self.spooling:
            self._to_spool(value, n, ticket)
            return
        try:
            fut = await self.producer.send(self.topic, value=value, key=key)
        except KafkaError as exc:
            self._failed(value, exc, n, ticket)
            return
        IN_FLIGHT.labels(self.stage).inc(n)
        self._pending[fut] = time.monotonic()
        fut.add_done_callback(lambda f: self._batch_done(f, [(value, n, ticket)], n))

    def _failed(self, value: bytes, exc: BaseException, n: int, ticket: Ticket | None,
                unconfirmed: bool = False) -> None:
        ERRORS.labels(self.stage, type(exc).__name__).inc()
        if not self.spooling:
            log.error("%s: Kafka did not take a record (%s: %s); spooling to %s until it does",
                      self.stage, type(exc).__name__, exc, self.spool.dir)
            self.spooling = True
            if self._started:
                self._tasks.append(asyncio.ensure_future(self._suspend()))
        self._to_spool(value, n, ticket, unconfirmed)

    def _to_spool(self, value: bytes, n: int, ticket: Ticket | None = None, unconfirmed: bool = False) -> None:
        """Keep a record in the spool; when it is full, the input's ticket answers for its lines,
        or they are counted: dropped, or unconfirmed if the record had gone out to Kafka."""
        try:
            self.spool.append(value)
        except SpoolFull as exc:
            if ticket is not None:
                ticket.refused += n  # the input answers for them: its sender retries
            else:
                (UNCONFIRMED if unconfirmed else DROPPED).labels(self.stage, exc.reason).inc(n)
            if not self.full:  # once per episode, then the counter speaks
                log.error("%s: %s; lines are dropped (soc_dropped_total{reason=%r}) until it drains",
                          self.stage, exc, exc.reason)
            self.full = True
            return
        SPOOLED.labels(self.stage).inc(n)
        SPOOL_BYTES.labels(self.stage).set(self.spool.bytes)

    async def _drain(self) -> None:
        """While spooling: re-send from the head of the spool, in order; then resume direct sends.
        Never ends: an unexpected error is logged and the round tried again."""
        while True:
            try:
                await self._drain_rounds()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the drain must outlive anything (a spool file gone, EIO)
                ERRORS.labels(self.stage, "drain").inc()
                log.exception("%s: the spool drain failed; trying again in 5 s", self.stage)
                await asyncio.sleep(5)

    async def _drain_rounds(self) -> None:
        backoff = 0.5
        while True:
            if not self.spooling:
                await asyncio.sleep(0.2)
                waited = self._overdue()
                if waited is not None:
                    ERRORS.labels(self.stage, "delivery_timeout").inc()
                    log.error("%s: Kafka has not confirmed a record sent %.1f s ago; spooling to %s until it does",
                              self.stage, waited, self.spool.dir)
                    self.spooling = True
                    await self._suspend()
                continue
            if self._pending:
                # Let in-flight sends finish (or fail into the spool) before the spool goes first;
                # those Kafka does not confirm in time go to the spool too.
                if self._overdue() is not None:
                    self._give_up_pending()
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
                self.spooling = self.full = False
                log.warning("%s: spool drained; sending directly again", self.stage)
                continue
            heads = [_peek(v) for v in batch]
            try:
                futs = [await self.producer.send(self.topic, value=v, key=source_id.encode())
                        for v, (source_id, _) in zip(batch, heads, strict=True)]
                await asyncio.gather(*futs)
            except KafkaError as exc:
                ERRORS.labels(self.stage, type(exc).__name__).inc()
                await self._suspend()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            backoff = 0.5
            self.spool.pop(len(batch))
            self.full = False  # there is room again
            SENT.labels(self.stage).inc(sum(n for _, n in heads))
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


def _peek(value: bytes) -> tuple[str, int]:
    """(source_id, lines) of a spooled value; a damaged header still gets sent (normalize
    dead-letters it with the reason) rather than stopping the drain."""
    try:
        return RawBatch.peek(value)
    except ContractError:
        return "", 1
