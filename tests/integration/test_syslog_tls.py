"""Syslog over TLS (RFC 5425) with a configured certificate, both framings, on the real stack."""

from __future__ import annotations

import socket
import ssl
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from soc.pipeline import free_port, wait_for_count

from .conftest import drop_indices, new_pipeline

pytestmark = pytest.mark.integration


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "collector.pem", tmp / "collector.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


def test_tls_syslog_in_both_framings_is_indexed(tmp_path: Path, es: Elasticsearch, kafka: str) -> None:
    cert, key = _self_signed(tmp_path)
    port = free_port()
    p = new_pipeline(tmp_path / "run", SOC_SYSLOG__TLS_PORT=str(port), SOC_SYSLOG__TLS_CERT=str(cert),
                     SOC_SYSLOG__TLS_KEY=str(key))
    marker = f"tls{uuid.uuid4().hex[:8]}"
    try:
        p.start()
        ctx = ssl.create_default_context(cafile=str(cert))
        ts = datetime.now(UTC).isoformat()
        framed = [f"<13>1 {ts} host app - - - {marker} octet {i}".encode() for i in range(5)]
        lines = [f"<13>1 {ts} host app - - - {marker} newline {i}".encode() for i in range(5)]
        with socket.create_connection(("127.0.0.1", port)) as raw, ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.sendall(b"".join(str(len(m)).encode() + b" " + m for m in framed))
        with socket.create_connection(("127.0.0.1", port)) as raw, ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.sendall(b"".join(m + b"\n" for m in lines))
        q = {"match_phrase": {"message": marker}}
        assert wait_for_count(es, f"{p.ns.prefix}-events-*", 10, 120, q) == 10
        hit = es.search(index=f"{p.ns.prefix}-events-*", query=q, size=1)["hits"]["hits"][0]["_source"]
        assert hit["soc"]["collector"] == "syslog-tls"
    finally:
        p.stop()
        drop_indices(es, p.ns.prefix)
