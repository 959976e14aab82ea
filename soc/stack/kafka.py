"""The local single-node Kafka (KRaft, broker and controller in one process) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

from soc.config import StackSettings
from soc.stack.artifacts import ensure_kafka
from soc.stack.process import ServiceProcess, StackError, java_home, port_free, port_open, wait_until

SERVER_PROPERTIES = """# written by `soc stack up`; edits are overwritten
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{cport}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data}
num.partitions=4
default.replication.factor=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=168
message.max.bytes=4194304
"""

LOG4J2 = """status = warn
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = {logs}/server.log
appender.file.filePattern = {logs}/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 20MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
"""


class KafkaNode:
    """Provision, start, probe and stop the local broker."""

    def __init__(self, cfg: StackSettings) -> None:
        self.cfg = cfg
        self.home = cfg.resolved_home() / "kafka"
        self.process = ServiceProcess("kafka", self.home)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.cfg.kafka_port}"

    def _java(self) -> Path:
        return java_home(self.cfg.java_home) / "bin" / "java"

    def _classpath(self) -> str:
        return str(ensure_kafka(self.cfg)) + "/*"

    def _write_config(self) -> Path:
        data, logs = self.home / "data", self.home / "logs"
        data.mkdir(parents=True, exist_ok=True)
        logs.mkdir(parents=True, exist_ok=True)
        props = self.home / "server.properties"
        props.write_text(
            SERVER_PROPERTIES.format(port=self.cfg.kafka_port, cport=self.cfg.kafka_controller_port, data=data)
        )
        (self.home / "log4j2.properties").write_text(LOG4J2.format(logs=logs))
        return props

    def _format_storage(self, props: Path) -> None:
        if (self.home / "data" / "meta.properties").exists():
            return
        java, cp = str(self._java()), self._classpath()
        log4j = f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}"
        uuid = subprocess.run(
            [java, log4j, "-cp", cp, "kafka.tools.StorageTool", "random-uuid"],
            capture_output=True, text=True, check=False,
        )
        cluster_id = uuid.stdout.strip().splitlines()[-1] if uuid.returncode == 0 and uuid.stdout.strip() else ""
        if not cluster_id:
            raise StackError(f"kafka StorageTool random-uuid failed: {uuid.stderr.strip()[-800:]}")
        fmt = subprocess.run(
            [java, log4j, "-cp", cp, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props),
             "--ignore-formatted"],
            capture_output=True, text=True, check=False,
        )
        if fmt.returncode != 0:
            raise StackError(f"kafka StorageTool format failed: {(fmt.stdout + fmt.stderr).strip()[-800:]}")

    def up(self) -> str:
        """Start the broker if it is not running; returns a line for the operator."""
        if self.process.running():
            if self.healthy():
                return f"Kafka already running at {self.bootstrap}"
            wait_until(self.healthy, self.cfg.start_timeout_s, "starting", self.process)
            return f"Kafka running at {self.bootstrap}"
        for port in (self.cfg.kafka_port, self.cfg.kafka_controller_port):
            if not port_free(port):
                raise StackError(
                    f"port {port} on 127.0.0.1 is taken by another process; stop it or set "
                    f"stack.kafka_port / stack.kafka_controller_port"
                )
        props = self._write_config()
        self._format_storage(props)
        env = dict(os.environ)
        env["KAFKA_HEAP_OPTS"] = f"-Xms{self.cfg.kafka_heap} -Xmx{self.cfg.kafka_heap}"
        argv = [
            str(self._java()),
            f"-Xms{self.cfg.kafka_heap}",
            f"-Xmx{self.cfg.kafka_heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.home / 'logs'}",
            "-cp",
            self._classpath(),
            "kafka.Kafka",
            str(props),
        ]
        self.process.start(argv, env=env, cwd=self.home)
        wait_until(self.healthy, self.cfg.start_timeout_s, "starting", self.process)
        return f"Kafka started at {self.bootstrap} (pid {self.process.pid()})"

    def healthy(self) -> bool:
        """The broker answers a metadata request."""
        if not port_open(self.cfg.kafka_port):
            return False
        return asyncio.run(_metadata_ok(self.bootstrap))

    def down(self) -> str:
        return "Kafka stopped" if self.process.stop() else "Kafka was not running"

    def status(self) -> str:
        pid = self.process.pid()
        if pid is None:
            return "stopped"
        return f"running (pid {pid}, {self.bootstrap}, {'healthy' if self.healthy() else 'not answering'})"


async def _metadata_ok(bootstrap: str) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await asyncio.wait_for(admin.start(), 5)
        await asyncio.wait_for(admin.list_topics(), 5)
        return True
    except Exception:  # noqa: BLE001 - any failure means "not ready yet"
        return False
    finally:
        try:
            await admin.close()
        except Exception:  # noqa: BLE001
            pass
