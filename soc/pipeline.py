"""Run a whole pipeline on this machine: a stream worker and a syslog collector as child processes.

Used by `soc demo`, the integration tests and the benchmarks, so all three exercise the same
processes an operator runs (`soc worker`, `soc collect syslog`) against the real Kafka and
Elasticsearch. A namespace (topic prefix, index prefix, consumer group) keeps runs apart.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from soc.config import Settings, load_settings


def free_port() -> int:
    """A port free for TCP and UDP on 127.0.0.1, chosen below the ephemeral range.

    A port the kernel hands out with bind(0) comes from the ephemeral range, where the next
    outgoing connection (to Kafka, to Elasticsearch) may take it before our child binds it:
    seen as "address already in use". Ports below that range are never taken that way.
    """
    low, _ = _ephemeral_range()
    for _ in range(200):
        port = random.randint(20000, max(20001, low - 1))
        if bindable(port):
            return port
    raise RuntimeError("no free port found below the ephemeral range")


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def bindable(port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


@dataclass
class Namespace:
    """Names and ports that keep one pipeline's data apart from another's."""

    prefix: str
    web_port: int = field(default_factory=free_port)
    syslog_port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    file_metrics_port: int = field(default_factory=free_port)
    pcap_metrics_port: int = field(default_factory=free_port)

    def env(self) -> dict[str, str]:
        return {
            "SOC_TOPIC_PREFIX": self.prefix,
            "SOC_ELASTIC__INDEX_PREFIX": self.prefix,
            "SOC_WORKER__APP_ID": f"{self.prefix}-worker",
            "SOC_WORKER__WEB_PORT": str(self.web_port),
            "SOC_WORKER__DATA_DIR": f"/tmp/soc-{self.prefix}-worker",
            "SOC_SYSLOG__UDP_PORT": str(self.syslog_port),
            "SOC_SYSLOG__TCP_PORT": str(self.syslog_port),
            "SOC_SYSLOG__METRICS_PORT": str(self.metrics_port),
            "SOC_SPOOL__DIR": f"/tmp/soc-{self.prefix}-spool",
            "SOC_HTTP__PORT": str(self.http_port),
            "SOC_FILE__STATE_DIR": f"/tmp/soc-{self.prefix}-file-offsets",
            "SOC_FILE__METRICS_PORT": str(self.file_metrics_port),
            "SOC_PCAP__METRICS_PORT": str(self.pcap_metrics_port),
        }


class LocalPipeline:
    """Start, kill, restart and stop the worker and collector of one namespace."""

    def __init__(self, ns: Namespace, log_dir: Path, extra_env: dict[str, str] | None = None) -> None:
        self.ns = ns
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, **ns.env(), **(extra_env or {})}
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.worker: subprocess.Popen[bytes] | None = None
        self.collector: subprocess.Popen[bytes] | None = None
        self.http: subprocess.Popen[bytes] | None = None
        self.file: subprocess.Popen[bytes] | None = None
        self.pcap: subprocess.Popen[bytes] | None = None
        self.api: subprocess.Popen[bytes] | None = None
        self.province: subprocess.Popen[bytes] | None = None
        self._file_runs = 0
        self._restarts = 0

    @property
    def settings(self) -> Settings:
        """The settings the child processes see."""
        saved = dict(os.environ)
        try:
            os.environ.update(self.ns.env())
            return load_settings()
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        proc = subprocess.Popen(
            [sys.executable, "-m", "soc.cli", *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        return proc

    def start_worker(self) -> None:
        self.worker = self._spawn(f"worker{self._restarts or ''}", ["worker"])
        self._restarts += 1

    def start_collector(self, timeout: float = 60.0) -> None:
        self.collector = self._spawn("collector", ["collect", "syslog"])
        self._wait_port(self.collector, "collector", self.ns.syslog_port, timeout)

    def start_file_collector(self, globs: list[str]) -> None:
        args = ["collect", "file"]
        for g in globs:
            args += ["--path", g]
        name = f"file{self._file_runs or ''}"
        self.file = self._spawn(name, args)
        self._file_runs += 1
        self._wait_ready(self.file, name)

    def start_pcap_collector(self, iface: str) -> None:
        """`soc collect pcap --iface`, once its capture is open (it prints READY then)."""
        self.pcap = self._spawn("pcap-iface", ["collect", "pcap", "--iface", iface])
        self._wait_ready(self.pcap, "pcap-iface")

    def stop_pcap_collector(self, timeout: float = 60) -> int:
        """SIGTERM, as an operator stops it: the open flows are sent first. Its exit code."""
        assert self.pcap is not None
        if self.pcap.poll() is None:
            os.killpg(self.pcap.pid, signal.SIGTERM)
        return self.pcap.wait(timeout=timeout)

    def _wait_ready(self, proc: subprocess.Popen[bytes], name: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        log = self.log_dir / f"{name}.log"
        while "READY" not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} collector did not start: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.2)

    def run_once(self, name: str, args: list[str], timeout: float = 300) -> int:
        """Run a collector that ends by itself (e.g. `collect pcap --file`); its exit code."""
        proc = self._spawn(name, args)
        return proc.wait(timeout=timeout)

    def stop_file_collector(self) -> None:
        if self.file is not None and self.file.poll() is None:
            os.killpg(self.file.pid, signal.SIGTERM)
            self.file.wait(timeout=60)

    def start_http_collector(self, timeout: float = 60.0) -> None:
        self.http = self._spawn("http", ["collect", "http"])
        self._wait_port(self.http, "http", self.ns.http_port, timeout)

    def _wait_port(self, proc: subprocess.Popen[bytes], name: str, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited: {self.tail(name)}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{name} not listening after {timeout}s: {self.tail(name)}")

    def start_province(self, port: int, args: list[str], timeout: float = 60.0) -> None:
        """`soc province serve` on 127.0.0.1:port: the provincial platform's receiving side."""
        self.province = self._spawn("province", ["province", "serve", "--host", "127.0.0.1", "--port", str(port), *args])
        self._wait_port(self.province, "province", port, timeout)

    def start_api(self, port: int, timeout: float = 60.0) -> None:
        """`soc api` on 127.0.0.1:port (the analysts' API and web UI)."""
        self.api = self._spawn("api", ["api", "--host", "127.0.0.1", "--port", str(port)])
        self._wait_port(self.api, "api", port, timeout)

    def start(self) -> None:
        self.start_worker()
        self.start_collector()

    def kill_worker(self) -> None:
        """SIGKILL, as a crash would: no flush, no commit, no goodbye to the group."""
        if self.worker is not None:
            os.killpg(self.worker.pid, signal.SIGKILL)
            self.worker.wait()

    def worker_alive(self) -> bool:
        return self.worker is not None and self.worker.poll() is None

    def stop(self) -> None:
        procs = [self.collector, self.http, self.file, self.pcap, self.worker, self.api, self.province]
        for proc in procs:
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            if proc is None:
                continue
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    # ------------------------------------------------------------------ sending

    def send_tcp(self, lines: list[bytes], octet_counting: bool = False) -> None:
        with socket.create_connection(("127.0.0.1", self.ns.syslog_port)) as s:
            if octet_counting:
                payload = b"".join(str(len(line)).encode() + b" " + line for line in lines)
            else:
                payload = b"".join(line + b"\n" for line in lines)
            s.sendall(payload)

    def send_udp(self, lines: list[bytes]) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for line in lines:
                s.sendto(line, ("127.0.0.1", self.ns.syslog_port))

    def metrics(self, which: str = "worker") -> dict[str, float]:
        """The Prometheus counters of the worker or the collector, as {name{labels}: value}."""
        port = {"worker": self.ns.web_port, "collector": self.ns.metrics_port, "http": self.ns.http_port,
                "file": self.ns.file_metrics_port, "pcap": self.ns.pcap_metrics_port}[which]
        return scrape(port)

    # ------------------------------------------------------------------ faults (tests/faults)

    def kill(self, which: str) -> int | None:
        """SIGKILL one process of the pipeline ("worker", "collector", "http", "file", ...) and
        its process group, as a crash or the OOM killer would; its exit status, None if it was
        not running."""
        proc: subprocess.Popen[bytes] | None = getattr(self, which)
        if proc is None or proc.poll() is not None:
            return None
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return proc.wait()

    def alive(self, which: str) -> bool:
        """Whether the process of that name ("worker", "collector", "http", "file") is running."""
        proc: subprocess.Popen[bytes] | None = getattr(self, which)
        return proc is not None and proc.poll() is None


def scrape(port: int) -> dict[str, float]:
    """The Prometheus text of a local process's /metrics, as {name{labels}: value}."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def count(es: Any, index: str, query: dict[str, Any] | None = None) -> int:
    """Documents in index (after a refresh), 0 if it does not exist yet.

    An index created a moment ago may not have its primary shard started: Elasticsearch then answers 503
    (all shards failed). That is not an empty index, so wait for its shards (yellow) and ask again.
    """
    for attempt in range(2):
        try:
            es.indices.refresh(index=index, ignore_unavailable=True, allow_no_indices=True)
            return int(es.count(index=index, query=query or {"match_all": {}}, ignore_unavailable=True,
                                allow_no_indices=True)["count"])
        except Exception as exc:  # noqa: BLE001 - an index that does not exist yet counts 0
            if "index_not_found" in str(exc):
                return 0
            if attempt == 0 and getattr(exc, "status_code", None) == 503:
                es.cluster.health(index=index, wait_for_status="yellow", timeout="60s")
                continue
            raise
    raise AssertionError("unreachable")


def wait_for_count(
    es: Any, index: str, expected: int, timeout: float, query: dict[str, Any] | None = None, at_least: bool = False
) -> int:
    """Poll until index holds expected documents; returns the last count seen."""
    deadline = time.monotonic() + timeout
    seen = -1
    while time.monotonic() < deadline:
        seen = count(es, index, query)
        if seen == expected or (at_least and seen >= expected):
            return seen
        time.sleep(0.5)
    return seen
