"""Asset inventory: events carry their protected system, MLPS level, tenant and direction."""

from __future__ import annotations

from pathlib import Path

import pytest

from soc.assets import load_inventory
from soc.config import ConfigError
from soc.model import RawRecord
from soc.stream.normalize import normalize

EXAMPLE = Path(__file__).resolve().parents[2] / "assets.example.yaml"


def _event(line: str, inventory, tenant: str = "") -> dict:  # type: ignore[no-untyped-def]
    rec = RawRecord(line.encode(), 1_764_000_000_000_000_000, "t", "192.0.2.1:514", "s", "syslog", tenant=tenant)
    key, doc = normalize(rec.encode(), [inventory])[0]
    assert key is not None
    return doc


def test_an_attack_on_a_system_carries_its_asset_and_comes_inbound() -> None:
    inv = load_inventory(EXAMPLE)
    doc = _event('{"message": "SQL注入", "source": {"ip": "203.0.113.9"}, "destination": {"ip": "10.10.0.8", "port": 443}}', inv)
    assert doc["soc"]["asset"]["name"] == "政务服务网"
    assert doc["soc"]["asset"]["mlps_level"] == 3
    assert doc["soc"]["asset"]["cii"] is True
    assert doc["labels"]["tenant"] == "市政务服务管理局"
    assert doc["network"]["direction"] == "inbound"


def test_host_logs_find_their_asset_by_host_name() -> None:
    inv = load_inventory(EXAMPLE)
    doc = _event("<38>Nov 25 10:00:00 gov-cloud-db-01 sshd[1]: Accepted publickey for deploy from 10.20.1.15 port 5 ssh2", inv)
    assert doc["soc"]["asset"]["name"] == "一网通办数据库"
    assert "direction" not in doc.get("network", {})  # one address only: nothing to judge


def test_the_most_specific_network_wins_and_a_source_tenant_is_kept() -> None:
    inv = load_inventory(EXAMPLE)
    doc = _event('{"source": {"ip": "10.60.1.2"}, "destination": {"ip": "10.10.8.9"}}', inv, tenant="B县")
    assert doc["soc"]["asset"]["name"] == "一网通办数据库"  # the destination is the protected system
    assert doc["labels"]["tenant"] == "B县"
    assert doc["network"]["direction"] == "internal"
    out = _event('{"source": {"ip": "10.60.1.2"}, "destination": {"ip": "8.8.8.8"}}', inv)
    assert out["soc"]["asset"]["name"] == "A县办公自动化系统" and out["network"]["direction"] == "outbound"


def test_a_bad_inventory_is_refused_naming_the_entry(tmp_path: Path) -> None:
    bad = tmp_path / "assets.yaml"
    bad.write_text("assets:\n  - name: x\n    mlps_level: 5\n    networks: [10.0.0.300/8]\n")
    with pytest.raises(ConfigError) as err:
        load_inventory(bad)
    assert "assets.0.mlps_level" in str(err.value) and "assets.0.networks" in str(err.value)
