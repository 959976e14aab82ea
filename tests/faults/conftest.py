"""Fault drills on the real Kafka and Elasticsearch: one fault per module, under a steady load.

Only `scripts/faults.sh` runs them (it sets SOC_FAULT_DRILLS=1 and selects `-m faults`): they
kill and stop the engines, so the default suite never collects them, and they must not run
while anything else uses the same stack (faults.sh gives them a stack of their own by default).

Every drill runs a whole pipeline in a namespace of its own (topic and index prefix `fd<hex>`,
consumer group, ports, spool and offset folders): a worker and the three collectors (syslog
over TCP, file, HTTP), each under a `Supervisor` that restarts a process that died after
RESTART_SEC, as systemd's Restart=always would. Three senders keep sending uniquely numbered
lines (`<marker> <phase> <transport> n=<n>`) the whole time; every DEAD_EVERY-th line of each is
planted to be dead-lettered (unreadable text for syslog and files, a mapping conflict for HTTP),
and FAILURES sshd failures from ATTACKER, planted before, during and after the fault with
event times within a few seconds, must raise the SSH brute-force correlation alert with that
exact count.

What "accounted for" means, per transport (`Drill.check_accounted`):

  file  Lossless. The collector saves a file's offset only after what it read is in Kafka or
        in the disk spool, so a restart neither skips nor repeats: every appended line is
        indexed, or dead-lettered, exactly once.
  http  Every line of a batch answered 202 is indexed or dead-lettered exactly once. The
        collector answers 202 after `sink.flush()`: acknowledged by Kafka (acks=all), or
        appended and flushed to the spool file, which survives a SIGKILL. The sender resends a
        batch that got no answer (connection reset, 5xx) until it gets its 202; a resend has the
        same bytes, so the same event ids: no duplicate. A batch that meets a full spool is
        answered 503 with Retry-After and resent the same way (test_spool_full.py,
        test_spool_enospc.py).
  tcp   Syslog over TCP has no application-level acknowledgement. While the collector lives,
        every written line is indexed or dead-lettered exactly once (the collector reads until
        the sender's FIN; TCP waits for room in the sink: back-pressure, not loss). When the
        collector is SIGKILLed, lines written to the dead connection may be lost, and only
        those: every line the collector had reported sent to Kafka (soc_sent_total, read just
        before the kill) is indexed, and every line written on a connection to the restarted
        collector (the chunk the sender failed on included: it resends it, like rsyslog) is
        indexed. The sender checks its connection for the peer's FIN before each write, as
        rsyslog's omfwd does, so it does not write into a connection it could know is dead.
  spool full  A line is lost only when a collector counts it, soc_dropped_total{reason=
        "spool_full" or "spool_disk_full"}, and logs it: per transport, sent = indexed +
        dead-lettered + dropped, give or take the lines counted as soc_unconfirmed_total (sends
        that had gone out when Kafka stopped, which the full spool could not keep: Kafka may
        have written them). Only syslog drops: HTTP answers 503 and the sender resends, and the
        file collector waits (its file is its buffer).

Each module runs its drill once, in a module-scoped `drill` fixture that records what happened
(Drill.finish: stop the load, wait for the pipeline to settle, read everything back, count);
its tests then judge one property each, so a known defect (xfail, with the reason) does not
hide the others.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import os
import re
import select
import shutil
import signal
import socket
import threading
import time
import traceback
import urllib.error
import urllib.request
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from elasticsearch import Elasticsearch, helpers

from soc.config import Settings, load_settings
from soc.pipeline import LocalPipeline, Namespace, count
from soc.stack import local_nodes
from soc.stack.elastic import ElasticNode
from soc.stack.kafka import KafkaNode
from soc.stack.process import ServiceProcess
from soc.store.client import sync_client
from soc.store.setup import setup_all
from soc.story import BRUTE_FORCE_RULE, CST

ENABLED = os.environ.get("SOC_FAULT_DRILLS") == "1"
if not ENABLED:  # they stop and kill the engines: only scripts/faults.sh runs them
    collect_ignore_glob = ["test_*.py"]

FAILURES = 12  # planted sshd failures: the brute-force alert must count exactly these
ATTACKER = "198.51.100.77"
DEAD_EVERY = 250  # one line in DEAD_EVERY of each sender is planted to be dead-lettered
RESTART_SEC = 2.0  # the supervisor's pause before it restarts a process that died
KINDS = ("tcp", "file", "http")
PROCESSES = ("worker", "collector", "http", "file")  # LocalPipeline's attribute names
STAGE = {"collector": "collector.syslog", "http": "collector.http", "file": "collector.file"}
COLLECTOR_OF = {"tcp": "collector", "http": "http", "file": "file"}
LINE = re.compile(rb"(fd[0-9a-f]{8}) (pre|mid|post) (tcp|file|http) n=(\d+)")
DEAD_REASON = {"tcp": ("normalize", "unknown_format"), "file": ("normalize", "unknown_format"),
               "http": ("index.events", "document_parsing_exception")}

REPORTS: list[dict[str, Any]] = []


# ---------------------------------------------------------------------------- engines

def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)  # an engine this process (re)started is its child
    except ChildProcessError:
        pass


def _sigkill(proc: ServiceProcess, timeout: float = 60) -> int:
    """SIGKILL a stack service's whole process group, as a crash or the OOM killer would."""
    pid = proc.pid()
    if pid is None:
        raise RuntimeError(f"{proc.name} is not running")
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout
    while proc.pid() is not None:  # pid() takes a zombie for gone
        _reap(pid)
        if time.monotonic() > deadline:
            raise RuntimeError(f"{proc.name} (pid {pid}) survived SIGKILL for {timeout}s")
        time.sleep(0.1)
    _reap(pid)
    return pid


class Engines:
    """The configured local Kafka and Elasticsearch, as the drills kill, stop and start them
    (soc/stack: the same code as `soc stack up|down`)."""

    def __init__(self, settings: Settings) -> None:
        nodes = local_nodes(settings)
        kafka = [n for n in nodes if isinstance(n, KafkaNode)]
        elastic = [n for n in nodes if isinstance(n, ElasticNode)]
        if not kafka or not elastic:
            pytest.fail("the fault drills stop and start Kafka and Elasticsearch, so they need the local stack "
                        "(`soc stack`), not configured clusters (kafka.bootstrap / elastic.url are set)",
                        pytrace=False)
        self.kafka, self.elastic = kafka[0], elastic[0]

    def sigkill_kafka(self) -> int:
        return _sigkill(self.kafka.process)

    def stop_kafka(self) -> None:
        self.kafka.down()

    def start_kafka(self) -> float:
        """Start the broker and wait until it answers; the seconds that took."""
        started = time.monotonic()
        self.kafka.up()
        return time.monotonic() - started

    def stop_elastic(self) -> None:
        self.elastic.down()

    def start_elastic(self) -> float:
        started = time.monotonic()
        self.elastic.up()
        return time.monotonic() - started

    def restore(self) -> list[str]:
        """Both engines running and healthy again, whatever a drill left; the problems, if any."""
        problems = []
        for node in (self.kafka, self.elastic):
            try:
                node.up()
            except Exception as exc:  # noqa: BLE001 - try the other one too, report both
                problems.append(f"{type(node).__name__}.up(): {exc}")
        for node in (self.kafka, self.elastic):
            if not node.healthy():
                problems.append(f"{type(node).__name__} is not healthy: {node.status()}")
        return problems


# ---------------------------------------------------------------------------- processes

class Supervisor(threading.Thread):
    """Restarts a pipeline process that exited, RESTART_SEC later (systemd's Restart=always)."""

    def __init__(self, p: LocalPipeline, starters: dict[str, Callable[[], None]]) -> None:
        super().__init__(daemon=True, name="supervisor")
        self.p = p
        self.starters = starters
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.restarts: list[dict[str, Any]] = []  # name, exit status, died, restarted (monotonic)
        self.errors: list[str] = []

    def run(self) -> None:
        died: dict[str, float] = {}
        while not self.stopping.wait(0.2):
            for name, start in self.starters.items():
                with self.lock:
                    if self.stopping.is_set():
                        return
                    if self.p.alive(name):
                        continue
                    now = time.monotonic()
                    if name not in died:
                        proc = getattr(self.p, name)
                        died[name] = now
                        self.restarts.append({"name": name, "exit": proc.returncode if proc else None,
                                              "died": now, "restarted": None})
                        continue
                    if now - died[name] < RESTART_SEC:
                        continue
                    try:
                        start()
                    except Exception as exc:  # noqa: BLE001 - a failed start is retried, as systemd would
                        self.errors.append(f"restart of {name} failed: {exc}")
                        died[name] = time.monotonic()
                        continue
                    for r in reversed(self.restarts):
                        if r["name"] == name and r["restarted"] is None:
                            r["restarted"] = time.monotonic()
                            break
                    del died[name]

    def kill(self, name: str) -> None:
        with self.lock:
            self.p.kill(name)

    def wait_restarted(self, name: str, after: float, timeout: float = 180) -> float:
        """When `name` was restarted after the monotonic time `after`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for r in self.restarts:
                if r["name"] == name and r["died"] >= after and r["restarted"] is not None:
                    return r["restarted"]
            time.sleep(0.2)
        raise AssertionError(f"{name} was not restarted within {timeout}s: {self.restarts} {self.errors}; "
                             f"log:\n{self.p.tail(name)}")

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=180)


# ---------------------------------------------------------------------------- load

class Sender(threading.Thread):
    """Sends `per_tick` uniquely numbered lines every `tick` seconds until told to stop; keeps the
    ledger of what its transport delivered (written, appended, or answered 202)."""

    kind = ""

    def __init__(self, d: Drill, per_tick: int = 10, tick: float = 0.1) -> None:
        super().__init__(daemon=True, name=f"send-{self.kind}")
        self.d = d
        self.per_tick = per_tick
        self.tick = tick
        self.stopping = threading.Event()
        self.sent: dict[int, str] = {}  # n -> phase, of the lines delivered
        self.dead: set[int] = set()  # the planted dead letters among them
        self.brute: list[int] = []  # planted sshd failures delivered (their k)
        self.undelivered: list[int] = []  # given up on (only when the drill is over)
        self.extra: deque[tuple[int, bytes]] = deque()  # planted sshd failures for the next tick
        self.retries = 0  # deliveries that failed and were made again
        self.max_wait_s = 0.0  # the longest a delivery took (back-pressure, retries, a 202's wait)
        self.error: str | None = None
        self.n = 0
        self.burst = 0  # extra lines for the next tick (the drill sets it)
        self.stopped_at: float | None = None

    @staticmethod
    def is_dead(n: int) -> bool:
        return n % DEAD_EVERY == DEAD_EVERY // 2

    def line(self, n: int, phase: str) -> bytes:
        raise NotImplementedError

    def deliver(self, items: list[tuple[tuple[str, int], bytes]]) -> bool:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                started = time.monotonic()
                phase = self.d.phase
                lines, self.burst = self.per_tick + self.burst, 0
                items: list[tuple[tuple[str, int], bytes]] = [
                    (("n", n), self.line(n, phase)) for n in range(self.n, self.n + lines)]
                self.n += lines
                while self.extra:
                    k, line = self.extra.popleft()
                    items.append((("k", k), line))
                began = time.monotonic()
                delivered = self.deliver(items)
                self.max_wait_s = max(self.max_wait_s, time.monotonic() - began)
                if delivered:
                    for (what, n), _ in items:
                        if what == "k":
                            self.brute.append(n)
                        else:
                            self.sent[n] = phase
                            if self.is_dead(n):
                                self.dead.add(n)
                else:
                    self.undelivered += [n for (what, n), _ in items if what == "n"]
                time.sleep(max(0.0, self.tick - (time.monotonic() - started)))
            self.close()
        except Exception:  # noqa: BLE001 - reported by Drill.account
            self.error = traceback.format_exc()

    def give_up(self) -> bool:
        """Keep retrying for as long as the drill sends; once it stopped, d.give_up_s more."""
        if not self.stopping.is_set():
            return False
        if self.stopped_at is None:
            self.stopped_at = time.monotonic()
        return time.monotonic() - self.stopped_at > self.d.give_up_s


def _ts() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class SyslogLines(Sender):
    def line(self, n: int, phase: str) -> bytes:
        if self.is_dead(n):  # no parser reads it: a dead letter of the normalize stage
            return f"deadletter {self.d.marker} {phase} {self.kind} n={n}".encode()
        return f"<14>1 {_ts()} fd-app-01 app - - - {self.d.marker} {phase} {self.kind} n={n}{self.d.pad}".encode()


class TcpSender(SyslogLines):
    """Syslog over one long-lived TCP connection, newline-framed, reconnecting like rsyslog."""

    kind = "tcp"

    def __init__(self, d: Drill, **kw: Any) -> None:
        super().__init__(d, **kw)
        self.sock: socket.socket | None = None
        self.opened: list[float] = []  # when each connection was established (monotonic)
        self.written_on: dict[tuple[str, int], list[int]] = {}  # line -> connections it was written on

    def _connect(self) -> None:
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", self.d.p.ns.syslog_port), timeout=60)
                self.opened.append(time.monotonic())
                return
            except OSError:
                if self.give_up():
                    raise
                time.sleep(0.5)

    def _peer_closed(self) -> bool:
        """The collector's FIN or RST is already here (rsyslog checks this before each send)."""
        assert self.sock is not None
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
            return bool(readable) and self.sock.recv(1, socket.MSG_PEEK) == b""
        except OSError:  # reset
            return True

    def deliver(self, items: list[tuple[tuple[str, int], bytes]]) -> bool:
        payload = b"".join(line + b"\n" for _, line in items)
        while True:
            try:
                if self.sock is not None and self._peer_closed():
                    self.sock.close()
                    self.sock = None
                if self.sock is None:
                    self._connect()
                assert self.sock is not None
                conn = len(self.opened) - 1
                for key, _ in items:
                    self.written_on.setdefault(key, []).append(conn)
                self.sock.sendall(payload)
                return True
            except OSError:
                self.retries += 1
                if self.sock is not None:
                    self.sock.close()
                    self.sock = None
                if self.give_up():
                    return False
                time.sleep(0.5)

    def close(self) -> None:
        """FIN, then wait for the collector's: it has then read every line."""
        if self.sock is None:
            return
        try:
            self.sock.shutdown(socket.SHUT_WR)
            self.sock.settimeout(120)
            while self.sock.recv(4096):
                pass
        except OSError:
            pass
        finally:
            self.sock.close()
            self.sock = None


class FileSender(SyslogLines):
    """Appends to a log file the file collector follows."""

    kind = "file"

    def deliver(self, items: list[tuple[tuple[str, int], bytes]]) -> bool:
        with open(self.d.logfile, "ab") as f:
            f.write(b"".join(line + b"\n" for _, line in items))
        return True


class HttpSender(Sender):
    """POSTs NDJSON batches with the source's token; resends a batch until it is answered 202."""

    kind = "http"
    refused = 0  # batches answered 503 (spool full), each resent until answered 202

    def line(self, n: int, phase: str) -> bytes:
        doc: dict[str, Any] = {"@timestamp": _ts(), "message": f"{self.d.marker} {phase} http n={n}{self.d.pad}"}
        if self.is_dead(n):  # Elasticsearch refuses it: a dead letter of the index stage
            doc["source"] = {"ip": "not-an-address"}
        return orjson.dumps(doc)

    def deliver(self, items: list[tuple[tuple[str, int], bytes]]) -> bool:
        body = b"\n".join(line for _, line in items)
        while True:
            req = urllib.request.Request(
                f"http://127.0.0.1:{self.d.p.ns.http_port}/v1/logs", data=body, method="POST",
                headers={"Authorization": f"Bearer {self.d.token}", "Content-Type": "application/x-ndjson"})
            try:
                with urllib.request.urlopen(req, timeout=self.d.http_timeout_s) as resp:
                    if resp.status == 202:
                        return True
            except urllib.error.HTTPError as err:
                if err.code < 500:
                    raise AssertionError(f"HTTP {err.code} for a good batch: {err.read()[:300]!r}") from None
                if err.code == 503:
                    self.refused += 1  # the collector could not keep it (spool full): resend later
            except (OSError, http.client.HTTPException):
                pass  # connection refused or reset, timeout: not answered, so resend
            self.retries += 1
            if self.give_up():
                return False
            time.sleep(0.5)


class Monitor(threading.Thread):
    """Counts, once a second, the events sent before the fault was lifted (pre, mid) and after
    (post): when the backlog was caught up and fresh lines flowed again."""

    def __init__(self, d: Drill) -> None:
        super().__init__(daemon=True, name="monitor")
        self.d = d
        self.es = sync_client(d.settings)
        self.stopping = threading.Event()
        self.samples: list[tuple[float, int, int]] = []  # (monotonic, pre+mid, post)

    def run(self) -> None:
        idx = f"{self.d.marker}-events-*"
        phrase = lambda phase: {"match_phrase": {"message": f"{self.d.marker} {phase}"}}  # noqa: E731
        backlog = {"bool": {"should": [phrase("pre"), phrase("mid")], "minimum_should_match": 1}}
        while not self.stopping.wait(1.0):
            try:
                self.samples.append((time.monotonic(), count(self.es, idx, backlog), count(self.es, idx, phrase("post"))))
            except Exception:  # noqa: BLE001 - Elasticsearch may be the fault
                continue

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=60)
        self.es.close()


# ---------------------------------------------------------------------------- the drill

@dataclass
class Ledger:
    """What Elasticsearch holds of a drill's lines, read back in full after the drill."""

    events: Counter[tuple[str, int]] = field(default_factory=Counter)  # (transport, n) -> documents
    event_ids: Counter[str] = field(default_factory=Counter)
    phases: Counter[str] = field(default_factory=Counter)  # indexed events per phase
    brute: Counter[int] = field(default_factory=Counter)  # planted sshd failure k -> documents
    dead: Counter[tuple[str, int]] = field(default_factory=Counter)
    dead_reasons: dict[tuple[str, int], tuple[str, str]] = field(default_factory=dict)
    foreign_events: int = 0
    foreign_dead: Counter[tuple[str, str]] = field(default_factory=Counter)  # (stage, reason)


class Drill:
    """One fault drill: its pipeline, supervisor, load, monitor, and the reckoning at the end."""

    def __init__(self, tmp: Path, es: Elasticsearch, engines: Engines, settings: Settings, name: str,
                 env: dict[str, str] | None = None, brute_via: tuple[str, ...] = ("tcp", "file"),
                 pad: int = 0) -> None:
        self.name = name
        self.es = es
        self.engines = engines
        self.settings = settings
        self.started = time.monotonic()
        self.marker = f"fd{uuid.uuid4().hex[:8]}"
        self.host = f"fd-{self.marker}"  # the host the planted brute force is against
        self.brute_base = datetime.now(UTC) - timedelta(seconds=30)
        self.brute_via = brute_via
        self.pad = " " + "x" * pad if pad else ""
        self.phase = "pre"
        self.timeline: list[tuple[float, str]] = []
        self.t_fault: float | None = None
        self.t_lift: float | None = None
        self.planted: dict[int, str] = {}
        self.numbers: dict[str, Any] = {}
        self.reported = False
        self.give_up_s = 300.0  # how long a sender retries a delivery once the load is stopped
        self.http_timeout_s = 120.0  # how long the HTTP sender waits for an answer (then resends)
        self.alert: tuple[int, int] = (0, 0)
        self.ledger = Ledger()
        logs = tmp / "applogs"
        logs.mkdir()
        self.logfile = logs / "app.log"
        self.logfile.touch()
        self.token = uuid.uuid4().hex
        sources = tmp / "sources.yaml"
        sources.write_text(f"sources:\n  - id: fd-http\n    token: {self.token}\n"
                           f"  - id: fd-file\n    paths: ['{logs}/*.log']\n")
        # The watchdog at 30 s (120 in production), so a worker it starts afresh (a partition that
        # can no longer commit after a rebalance) has recovered within the drill's settle time.
        self.p = LocalPipeline(Namespace(prefix=self.marker), tmp / "run",
                               extra_env={"SOC_SOURCES_FILE": str(sources), "SOC_WORKER__STUCK_S": "30",
                                          **(env or {})})
        asyncio.run(setup_all(self.p.settings))
        self.supervisor = Supervisor(self.p, {
            "worker": self.p.start_worker,
            "collector": self.p.start_collector,
            "http": self.p.start_http_collector,
            "file": lambda: self.p.start_file_collector([]),
        })
        self.senders: dict[str, Sender] = {"tcp": TcpSender(self), "file": FileSender(self), "http": HttpSender(self)}
        self.monitor = Monitor(self)

    # -- running

    def mark(self, what: str) -> float:
        now = time.monotonic()
        self.timeline.append((now, what))
        return now

    def start(self) -> None:
        self.p.start_worker()
        self.p.start_collector()
        self.p.start_http_collector()
        self.p.start_file_collector([])
        self.supervisor.start()
        self.monitor.start()
        for s in self.senders.values():
            s.start()
        self.mark("load started")

    def wait_flowing(self, timeout: float = 180) -> None:
        """Until lines of every transport are indexed: the pipeline is up and the load flows."""
        deadline = time.monotonic() + timeout
        for kind in KINDS:
            q = {"match_phrase": {"message": f"{self.marker} pre {kind}"}}
            while count(self.es, f"{self.marker}-events-*", q) == 0:
                assert time.monotonic() < deadline, (
                    f"no {kind} line indexed after {timeout}s; worker:\n{self.p.tail('worker')}")
                time.sleep(0.5)
        self.mark("flowing")

    def brute_line(self, k: int) -> bytes:
        ts = (self.brute_base + timedelta(seconds=k)).astimezone(CST)
        return (f"<38>{ts:%b} {ts.day:2d} {ts:%H:%M:%S} {self.host} sshd[{5000 + k}]: "
                f"Failed password for root from {ATTACKER} port {40000 + k} ssh2").encode()

    def plant(self, ks: range) -> None:
        """Planted sshd failures k, each with the next tick of its sender."""
        for k in ks:
            via = self.brute_via[k % len(self.brute_via)]
            self.planted[k] = via
            self.senders[via].extra.append((k, self.brute_line(k)))

    def inject(self, what: str) -> float:
        self.phase = "mid"
        self.t_fault = self.mark(what)
        return self.t_fault

    def lift(self, what: str) -> float:
        self.phase = "post"
        self.t_lift = self.mark(what)
        return self.t_lift

    def metrics(self, which: str) -> dict[str, float]:
        try:
            return self.p.metrics(which)
        except Exception:  # noqa: BLE001 - a dead collector has none
            return {}

    def spool_bytes(self) -> dict[str, float]:
        return {c: self.metrics(c).get(f'soc_spool_bytes{{stage="{s}"}}', -1.0) for c, s in STAGE.items()}

    def dropped(self, which: str, reason: str | None = None) -> float:
        """Lines the collector counted as dropped, for one reason or all of them."""
        stage = f'stage="{STAGE[which]}"'
        return sum(v for k, v in self.metrics(which).items() if k.startswith("soc_dropped_total{") and stage in k
                   and (reason is None or f'reason="{reason}"' in k))

    def unconfirmed(self, which: str) -> float:
        """Lines the collector's full spool could not keep after Kafka failed to confirm them
        (Kafka may have written them: lost or delivered, not known)."""
        stage = f'stage="{STAGE[which]}"'
        return sum(v for k, v in self.metrics(which).items() if k.startswith("soc_unconfirmed_total{") and stage in k)

    # -- the reckoning

    def stop_load(self) -> None:
        self.mark("load stopping")
        for s in self.senders.values():
            s.stopping.set()
        for s in self.senders.values():
            s.join(timeout=600)
            assert not s.is_alive(), f"the {s.kind} sender did not finish"
        self.mark("load stopped")

    def settle(self, lossless: bool, timeout: float = 900) -> float:
        """Until every delivered line is indexed or dead-lettered and the spools are empty, or,
        with empty spools, until the counts stop moving: for 20 s where some loss is allowed,
        for 120 s where none is (then something was lost, and the checks say what)."""
        expected_events = sum(len(set(s.sent) - s.dead) + len(s.brute) for s in self.senders.values())
        expected_dead = sum(len(s.dead) for s in self.senders.values())
        t_stop = time.monotonic()
        deadline = t_stop + timeout
        last: tuple[int, int] | None = None
        since = time.monotonic()
        while time.monotonic() < deadline:
            ev = count(self.es, f"{self.marker}-events-*")
            dl = count(self.es, f"{self.marker}-deadletter")
            drained = all(v == 0 for v in self.spool_bytes().values())
            if drained and ev == expected_events and dl >= expected_dead:
                break
            if (ev, dl) != last:
                last, since = (ev, dl), time.monotonic()
            elif drained and time.monotonic() - since > (120 if lossless else 20):
                break
            time.sleep(1)
        self.mark("settled")
        time.sleep(5)  # a late duplicate would land now
        return time.monotonic() - t_stop

    def read_back(self) -> Ledger:
        led = Ledger()
        for hit in helpers.scan(self.es, index=f"{self.marker}-events-*", query={"query": {"match_all": {}}},
                                _source=["message", "event.id", "host.name", "source.port"], size=5000):
            src = hit["_source"]
            led.event_ids[src.get("event", {}).get("id", "")] += 1
            m = LINE.search(str(src.get("message", "")).encode())
            if m and m.group(1).decode() == self.marker:
                led.events[(m.group(3).decode(), int(m.group(4)))] += 1
                led.phases[m.group(2).decode()] += 1
            elif src.get("host", {}).get("name") == self.host and src.get("source", {}).get("port"):
                led.brute[int(src["source"]["port"]) - 40000] += 1
            else:
                led.foreign_events += 1
        if self.es.indices.exists(index=f"{self.marker}-deadletter"):
            for hit in helpers.scan(self.es, index=f"{self.marker}-deadletter", query={"query": {"match_all": {}}},
                                    _source=["soc.deadletter"], size=5000):
                dl = hit["_source"]["soc"]["deadletter"]
                m = LINE.search(base64.b64decode(dl.get("original_base64", "")))
                if m and m.group(1).decode() == self.marker:
                    key = (m.group(3).decode(), int(m.group(4)))
                    led.dead[key] += 1
                    led.dead_reasons[key] = (dl.get("stage", ""), dl.get("reason", ""))
                else:
                    led.foreign_dead[(dl.get("stage", ""), dl.get("reason", ""))] += 1
        return led

    def brute_alert(self, timeout: float = 180) -> tuple[int, int]:
        """(alert documents, the count of the last) of the planted brute force, once the count
        reached FAILURES or timeout passed."""
        q = {"bool": {"filter": [{"term": {"rule.name": BRUTE_FORCE_RULE}}, {"term": {"source.ip": ATTACKER}}]}}
        deadline = time.monotonic() + timeout
        docs, got = 0, 0
        while time.monotonic() < deadline:
            docs = count(self.es, f"{self.marker}-alerts", q)
            if docs:
                hits = self.es.search(index=f"{self.marker}-alerts", query=q, size=10)["hits"]["hits"]
                got = max(h["_source"]["soc"]["alert"]["count"] for h in hits)
                if got >= FAILURES:
                    break
            time.sleep(1)
        return docs, got

    def finish(self, lossless: bool = True, drops: bool = False, tcp_killed_at: float | None = None,
               tcp_acked: float | None = None, settle_timeout: float = 900) -> None:
        """Stop the load, wait for the pipeline to settle, read everything back, count and report.
        The checks (check_*) then assert on what was counted. `drops`: the collectors' spool_full
        drops are part of the reckoning. `tcp_killed_at`: when the syslog collector was SIGKILLed
        (monotonic); `tcp_acked`: its soc_sent_total read just before."""
        self.stop_load()
        settle_s = self.settle(lossless and not drops, settle_timeout)
        self.alert = self.brute_alert()
        dropped = {kind: self.dropped(COLLECTOR_OF[kind]) for kind in KINDS} if drops else None
        self.ledger = self.read_back()
        self.tally(self.ledger, dropped, tcp_killed_at, tcp_acked)
        self.numbers["settle_s"] = round(settle_s, 1)
        self.numbers["alert_docs"], self.numbers["alert_count"] = self.alert
        self.numbers.update(self.recovery())

    def tally(self, led: Ledger, dropped: dict[str, float] | None, tcp_killed_at: float | None,
              tcp_acked: float | None) -> None:
        """Per transport: what was sent, indexed, dead-lettered, dropped (counted), missing."""
        self.modes = {"dropped": dropped is not None, "tcp_killed": tcp_killed_at is not None}
        self.tallies: dict[str, dict[str, Any]] = {}
        for kind in KINDS:
            s = self.senders[kind]
            sent = set(s.sent)
            t: dict[str, Any] = {
                "sent": sent, "dead": set(s.dead), "ordinary": sent - s.dead,
                "indexed": {n for (k, n) in led.events if k == kind},
                "lettered": {n for (k, n) in led.dead if k == kind},
                "dup_events": sorted(n for (k, n), c in led.events.items() if k == kind and c > 1),
                "dup_dead": sorted(n for (k, n), c in led.dead.items() if k == kind and c > 1),
            }
            t["missing"] = sent - t["indexed"] - t["lettered"]
            row: dict[str, Any] = {"sent": len(sent), "indexed": len(t["indexed"]), "dead_lettered": len(t["lettered"]),
                                   "missing": len(t["missing"]), "resends": s.retries,
                                   "refused_503": getattr(s, "refused", 0),
                                   "max_wait_s": round(s.max_wait_s, 1)}
            if dropped is not None:
                t["dropped"] = row["dropped"] = int(dropped.get(kind, 0))
                t["unconfirmed"] = row["unconfirmed"] = int(self.unconfirmed(COLLECTOR_OF[kind]))
            if kind == "tcp" and tcp_killed_at is not None:
                assert isinstance(s, TcpSender)
                # Connections opened before the kill went to the collector that died.
                old = {i for i, opened in enumerate(s.opened) if opened < tcp_killed_at}
                on_old = {n for (w, n), conns in s.written_on.items() if w == "n" and set(conns) <= old} & sent
                t["on_old"], t["on_new"] = on_old, sent - on_old
                t["acked_old"] = int(tcp_acked or 0)
                t["kept_old"] = len(on_old & (t["indexed"] | t["lettered"]))
                row.update({"written_to_killed": len(on_old), "acked_by_killed": t["acked_old"],
                            "kept_of_killed": t["kept_old"], "lost": len(t["missing"])})
            if any(t[x] for x in ("dup_events", "dup_dead")):
                row["duplicates"] = {"events": len(t["dup_events"]), "dead_letters": len(t["dup_dead"])}
            self.tallies[kind] = t
            self.numbers[kind] = row
        self.numbers["brute"] = {"planted": len(self.planted),
                                 "delivered": sum(len(s.brute) for s in self.senders.values()),
                                 "indexed": len(led.brute)}
        self.numbers["foreign_dead_letters"] = {f"{st}/{r}": c for (st, r), c in led.foreign_dead.items()}
        self.numbers["phases_indexed"] = dict(led.phases)

    # -- the checks (after finish)

    def check_accounted(self) -> None:
        """Every line accounted for, per transport (the module docstring says what that means)."""
        led = self.ledger
        for s in self.senders.values():
            assert s.error is None, f"the {s.kind} sender failed:\n{s.error}"
            assert not s.undelivered, f"the {s.kind} sender gave up on {len(s.undelivered)} lines"
        for kind in KINDS:
            t = self.tallies[kind]
            sent, indexed, lettered, missing = t["sent"], t["indexed"], t["lettered"], t["missing"]
            assert indexed <= t["ordinary"], (f"{kind}: indexed lines never sent, or planted dead letters indexed: "
                                              f"{sorted(indexed - t['ordinary'])[:20]}")
            assert lettered <= t["dead"], (f"{kind}: good lines dead-lettered: {sorted(lettered - t['dead'])[:20]} "
                                           f"{[led.dead_reasons[(kind, n)] for n in sorted(lettered - t['dead'])[:3]]}")
            wrong = {n: led.dead_reasons[(kind, n)] for n in lettered if led.dead_reasons[(kind, n)] != DEAD_REASON[kind]}
            assert not wrong, f"{kind}: dead letters of another stage/reason than planted: {list(wrong.items())[:5]}"
            if "dropped" in t:
                # Dropped: lines Kafka never got. Unconfirmed: lines it may have got (the send had
                # gone out when it failed) that the full spool could not keep; some are indexed.
                unknown = len(sent) - len(indexed) - len(lettered) - t["dropped"]
                assert 0 <= unknown <= t["unconfirmed"], (
                    f"{kind}: sent {len(sent)} != indexed {len(indexed)} + dead-lettered {len(lettered)} "
                    f"+ dropped and counted {t['dropped']} (+ up to {t['unconfirmed']} unconfirmed)")
            elif "on_old" in t:
                lost_new = t["on_new"] - indexed - lettered
                assert not lost_new, (f"tcp: {len(lost_new)} lines written to the restarted collector were lost: "
                                      f"{sorted(lost_new)[:20]}")
                assert missing <= t["on_old"]
                assert t["kept_old"] >= t["acked_old"], (
                    f"tcp: the killed collector had sent {t['acked_old']} lines to Kafka, but only {t['kept_old']} "
                    f"of the lines written to it are indexed or dead-lettered")
            else:
                assert not missing, (f"{kind}: {len(missing)} of {len(sent)} lines neither indexed nor dead-lettered: "
                                     f"{sorted(missing)[:20]}; worker:\n{self.p.tail('worker')}")
        delivered = sorted(k for s in self.senders.values() for k in s.brute)
        assert delivered == sorted(self.planted), f"planted {sorted(self.planted)}, delivered {delivered}"
        assert set(led.brute) == set(delivered), f"sshd failures indexed: {dict(led.brute)}, delivered {delivered}"

    def check_no_duplicate_events(self) -> None:
        led = self.ledger
        dup_ids = {i: c for i, c in led.event_ids.items() if c > 1}
        assert not dup_ids, f"{len(dup_ids)} event ids indexed more than once: {list(dup_ids.items())[:5]}"
        for kind in KINDS:
            dups = self.tallies[kind]["dup_events"]
            assert not dups, f"{kind}: {len(dups)} lines indexed more than once: {dups[:20]}"
        assert all(c == 1 for c in led.brute.values()), f"sshd failures indexed: {dict(led.brute)}"
        assert led.foreign_events == 0, f"{led.foreign_events} events that no sender sent"

    def check_no_duplicate_dead_letters(self) -> None:
        for kind in KINDS:
            dups = self.tallies[kind]["dup_dead"]
            reasons = {self.ledger.dead_reasons[(kind, n)] for n in dups}
            assert not dups, f"{kind}: {len(dups)} lines dead-lettered more than once ({reasons}): {dups[:20]}"

    def check_nothing_else_dead_lettered(self) -> None:
        """No stage dead-lettered anything but the planted lines (a playbook, an alert...)."""
        foreign = dict(self.ledger.foreign_dead)
        assert not foreign, f"dead letters (stage, reason) that are none of the planted lines: {foreign}"

    def check_alert(self) -> None:
        docs, got = self.alert
        assert (docs, got) == (1, FAILURES), (
            f"the planted brute force ({FAILURES} failures of {ATTACKER}) gave {docs} alert documents, count {got}")

    def check_back_to_normal(self, restarted: list[str]) -> None:
        """No operator: every process runs, only the expected ones were restarted (by the
        supervisor), the spools are empty, fresh lines flowed after the lift."""
        for name in PROCESSES:
            assert self.p.alive(name), f"{name} is not running:\n{self.p.tail(name)}"
        got = sorted(r["name"] for r in self.supervisor.restarts)
        assert got == sorted(restarted), (
            f"restarted by the supervisor: {self.supervisor.restarts}, expected {restarted}; "
            f"{self.supervisor.errors}\nworker:\n{self.p.tail('worker')}")
        spools = self.spool_bytes()
        assert all(v == 0 for v in spools.values()), f"spools not drained: {spools}"
        assert self.numbers.get("fresh_s") is not None, "no line sent after the fault was lifted was indexed"
        problems = [f"{type(n).__name__}: {n.status()}" for n in (self.engines.kafka, self.engines.elastic)
                    if not n.healthy()]
        assert not problems, f"engines not healthy: {problems}"

    def recovery(self) -> dict[str, float | None]:
        """From the monitor's samples: seconds from the lift until the first line sent after it
        was indexed (fresh) and until every line sent before it was (backlog)."""
        phases = self.numbers.get("phases_indexed", {})
        target = phases.get("pre", 0) + phases.get("mid", 0)
        lift = self.t_lift or 0.0
        fresh = next((t - lift for t, _, post in self.monitor.samples if post > 0), None)
        backlog = next((max(0.0, t - lift) for t, b, _ in self.monitor.samples if b >= target), None)
        return {"fresh_s": round(fresh, 1) if fresh is not None else None,
                "backlog_s": round(backlog, 1) if backlog is not None else None}

    def report(self) -> dict[str, Any]:
        t0 = self.started
        restarts = [{"name": r["name"], "exit": r["exit"],
                     "down_s": round(r["restarted"] - r["died"], 1) if r["restarted"] else None}
                    for r in self.supervisor.restarts]
        out = {"drill": self.name, "marker": self.marker, "wall_s": round(time.monotonic() - t0, 1),
               "fault_s": round(self.t_lift - self.t_fault, 1) if self.t_lift and self.t_fault else None,
               **self.numbers, "restarts": restarts,
               "timeline": [f"{t - t0:7.1f}s {what}" for t, what in self.timeline]}
        self.reported = True
        REPORTS.append(out)
        print(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())
        return out

    # -- teardown

    def close(self) -> list[str]:
        if not self.reported:
            self.report()  # what a drill that failed half-way got to
        for s in self.senders.values():
            s.stopping.set()
        self.monitor.stop()
        self.supervisor.stop()
        self.p.stop()
        problems = self.engines.restore()  # whatever happened, the engines run again
        if os.environ.get("SOC_FAULTS_KEEP"):  # to look into a failed drill: topics and indices stay
            print(f"kept: topics and indices {self.marker}-*, logs in {self.p.log_dir}")
        elif not problems:
            try:
                _drop(self.es, self.marker)
                asyncio.run(_delete_topics(self.settings.kafka_bootstrap, self.marker))
            except Exception as exc:  # noqa: BLE001 - leftovers of a namespace are harmless
                print(f"cleanup of {self.marker}: {exc}")
        for folder in Path("/tmp").glob(f"soc-{self.marker}-*"):
            if not os.environ.get("SOC_FAULTS_KEEP"):
                shutil.rmtree(folder, ignore_errors=True)
        return problems


def _drop(es: Elasticsearch, prefix: str) -> None:
    names = list(es.indices.get(index=f"{prefix}-*", allow_no_indices=True, ignore_unavailable=True).keys())
    if names:
        es.indices.delete(index=",".join(names), ignore_unavailable=True)


async def _delete_topics(bootstrap: str, prefix: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


# ---------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def settings() -> Settings:
    if not ENABLED:
        pytest.skip("fault drills run with scripts/faults.sh only (SOC_FAULT_DRILLS=1)")
    return load_settings()


@pytest.fixture(scope="session")
def engines(settings: Settings) -> Iterator[Engines]:
    eng = Engines(settings)
    problems = eng.restore()
    if problems:
        pytest.fail(f"the engines are not up: {problems}", pytrace=False)
    yield eng
    problems = eng.restore()
    assert not problems, f"the engines could not be restored after the drills: {problems}"


@pytest.fixture(scope="session")
def es(settings: Settings, engines: Engines) -> Iterator[Elasticsearch]:
    client = sync_client(settings)
    yield client
    client.close()


@pytest.fixture(scope="module")
def make_drill(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest, settings: Settings,
               engines: Engines, es: Elasticsearch) -> Iterator[Callable[..., Drill]]:
    """Drills of one module (each module runs its drill once, in a module-scoped fixture, and
    its tests assert on the outcome); closed at the end of the module, engines restored."""
    made: list[Drill] = []
    name = request.module.__name__.rsplit(".", 1)[-1]

    def make(**kw: Any) -> Drill:
        d = Drill(tmp_path_factory.mktemp(name), es, engines, settings, name, **kw)
        made.append(d)
        return d

    yield make
    problems = []
    for d in made:
        problems += d.close()
    assert not problems, f"the engines could not be restored: {problems}"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line per drill and transport; every number of every drill (JSON) in
    $SOC_FAULTS_REPORT when it is set (scripts/faults.sh sets it)."""
    if not REPORTS:
        return
    tr = terminalreporter
    tr.section("fault drills")
    if os.environ.get("SOC_FAULTS_REPORT"):
        Path(os.environ["SOC_FAULTS_REPORT"]).write_bytes(orjson.dumps(REPORTS, option=orjson.OPT_INDENT_2))
        tr.write_line(f"every number: {os.environ['SOC_FAULTS_REPORT']}")
    for r in REPORTS:
        kinds = "  ".join(
            f"{k}: sent {r[k]['sent']} idx {r[k]['indexed']} dl {r[k]['dead_lettered']}"
            + (f" dropped {r[k]['dropped']}" if "dropped" in r[k] else "")
            + (f" lost {r[k]['lost']}" if r[k].get("lost") else "")
            for k in KINDS if k in r)
        tr.write_line(f"{r['drill']}: wall {r['wall_s']}s, fault {r.get('fault_s')}s, fresh {r.get('fresh_s')}s, "
                      f"backlog {r.get('backlog_s')}s, settle {r.get('settle_s')}s, alert count {r.get('alert_count')}")
        tr.write_line(f"    {kinds}")
