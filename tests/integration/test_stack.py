"""`soc stack`: clear errors for what an operator must fix, offline export/import, external clusters."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from soc.config import Settings, StackSettings
from soc.pipeline import LocalPipeline, Namespace, wait_for_count
from soc.stack import StackError, local_nodes, stack_up
from soc.stack.artifacts import ensure_kafka, es_zip, export_dist, import_dist, kafka_libs
from soc.stack.elastic import local_credentials
from soc.stack.kafka import KafkaNode
from soc.stack.process import java_home

from .conftest import drop_indices

pytestmark = pytest.mark.integration


def test_a_taken_port_is_named(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        node = KafkaNode(StackSettings(home=tmp_path, kafka_port=port, kafka_controller_port=port + 1))
        with pytest.raises(StackError, match=rf"port {port} .* taken"):
            node.up()


def test_missing_java_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(StackError, match="Java is missing"):
        java_home(tmp_path / "no-jdk")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StackError, match="Java is missing"):
        java_home(None)


def test_a_refused_download_is_reported_with_mavens_words(tmp_path: Path) -> None:
    cfg = StackSettings(home=tmp_path, kafka_version="0.0.404-not-published")
    with pytest.raises(StackError, match="download refused or failed") as err:
        ensure_kafka(cfg)
    assert "0.0.404-not-published" in str(err.value)
    assert not (kafka_libs(cfg) / ".complete").exists()


def test_export_then_import_on_an_offline_machine(tmp_path: Path, base_settings: Settings) -> None:
    source = base_settings.stack  # the local stack's cache: the engines are downloaded already
    folder = export_dist(source, tmp_path / "carry")
    offline = source.model_copy(update={"home": tmp_path / "offline-home"})
    import_dist(offline, folder)
    assert (kafka_libs(offline) / f"kafka_2.13-{offline.kafka_version}.jar").exists()
    assert es_zip(offline).read_bytes()[:2] == b"PK"
    # The imported cache is complete: provisioning would not call Maven.
    assert ensure_kafka(offline) == kafka_libs(offline)

    # A corrupted copy is refused, naming the file.
    jar = next((folder / f"kafka-{offline.kafka_version}" / "libs").glob("kafka-clients-*.jar"))
    data = bytearray(jar.read_bytes())
    data[100] ^= 0xFF
    jar.write_bytes(bytes(data))
    with pytest.raises(StackError, match=rf"{jar.name} does not match its SHA-256"):
        import_dist(source.model_copy(update={"home": tmp_path / "other-home"}), folder)


def test_configured_clusters_are_used_and_nothing_is_provisioned(
    tmp_path: Path, base_settings: Settings, es: Elasticsearch, kafka: str
) -> None:
    creds = local_credentials(base_settings.stack)
    assert creds is not None, "the local stack must be up for this test"
    external = {
        "SOC_KAFKA_BOOTSTRAP": base_settings.kafka_bootstrap,
        "SOC_ES_URL": base_settings.es_url,
        "SOC_ELASTIC__USERNAME": creds[0],
        "SOC_ELASTIC__PASSWORD": creds[1],
        # An empty stack home: had anything been provisioned or read from it, it would show here.
        "SOC_STACK__HOME": str(tmp_path / "unused-stack"),
    }
    settings = Settings(
        kafka={"bootstrap": external["SOC_KAFKA_BOOTSTRAP"]},
        elastic={"url": external["SOC_ES_URL"], "username": creds[0], "password": creds[1]},
        stack={"home": tmp_path / "unused-stack"},
    )
    assert local_nodes(settings) == []
    lines = stack_up(settings)
    assert any("using the configured cluster" in line for line in lines)
    assert not (tmp_path / "unused-stack").exists()

    ns = Namespace(prefix=f"ext{uuid.uuid4().hex[:8]}")
    pipeline = LocalPipeline(ns, tmp_path / "logs", extra_env=external)
    import asyncio

    from soc.store.setup import setup_all

    asyncio.run(setup_all(settings.model_copy(update={"topic_prefix": ns.prefix,
                                                      "elastic": settings.elastic.model_copy(update={"index_prefix": ns.prefix})})))
    pipeline.start()
    try:
        pipeline.send_tcp([b"<14>1 2026-11-25T10:00:00.000+08:00 gov-cloud-app-02 app 1 - - external cluster works"])
        assert wait_for_count(es, f"{ns.prefix}-events-*", 1, 120) == 1
    finally:
        pipeline.stop()
        drop_indices(es, ns.prefix)
    assert not (tmp_path / "unused-stack").exists()
