"""The sources file: which sender is which device, and clear errors for a bad file."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.sources import load_sources
from soc.config import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "sources.example.yaml"


def test_the_documented_example_loads_and_matches_peers_paths_and_tokens() -> None:
    s = load_sources(EXAMPLE)
    fw = s.for_peer("10.1.0.1")
    assert fw.id == "extranet-fw-01" and fw.charset == "gbk" and fw.tenant == "市大数据局"
    assert s.for_peer("10.20.7.8").id == "cloud-linux-hosts"
    assert s.for_path("/var/log/bastion/2026-11-25.log").id == "bastion-01"
    assert s.for_token("change-me-county-a-waf-token").id == "county-a-waf"
    assert s.for_token("wrong") is None


def test_an_undeclared_sender_is_accepted_under_its_address(tmp_path: Path) -> None:
    s = load_sources(EXAMPLE)
    other = s.for_peer("198.51.100.7")
    assert other.id == "syslog:198.51.100.7" and not other.peers


def test_the_most_specific_network_wins(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text("sources:\n  - {id: wide, peers: [10.0.0.0/8]}\n  - {id: narrow, peers: [10.1.2.0/24]}\n")
    s = load_sources(f)
    assert s.for_peer("10.1.2.3").id == "narrow"
    assert s.for_peer("10.9.9.9").id == "wide"


@pytest.mark.parametrize(
    ("yaml_text", "named"),
    [
        ("sources:\n  - {id: a, peers: [10.0.0.300]}\n", "sources[0].peers"),
        ("sources:\n  - {id: a, charset: gbkk}\n", "sources[0].charset"),
        ("sources:\n  - {id: a, timezone: Mars/Olympus}\n", "sources[0].timezone"),
        ("sources:\n  - {id: a, format: no_such_device}\n", "sources[0].format"),
        ("sources:\n  - {id: a, colour: red}\n", "sources[0].colour"),
        ("sources:\n  - {id: a}\n  - {id: a}\n", "duplicate source ids"),
        ("sources: [\n", "not valid YAML"),
        ("sources:\n  - {id: a, type: Fire Wall}\n", "sources[0].type"),
    ],
)
def test_a_bad_sources_file_is_refused_naming_the_problem(tmp_path: Path, yaml_text: str, named: str) -> None:
    f = tmp_path / "sources.yaml"
    f.write_text(yaml_text)
    with pytest.raises(ConfigError) as err:
        load_sources(f)
    assert named in str(err.value)
    assert str(f) in str(err.value)


def test_a_declared_device_travels_with_its_lines_and_names_the_observer(tmp_path: Path) -> None:
    """A Topsec VPN gateway sends TopsecOS firewall lines: only the declaration tells it apart."""
    from soc.model import RawBatch
    from soc.stream.normalize import normalize

    f = tmp_path / "s.yaml"
    f.write_text("sources:\n  - {id: county-vpn, peers: [10.9.0.1], vendor: TopSec, product: TopVPN, type: vpn}\n")
    source = load_sources(f).for_peer("10.9.0.1")
    assert source.device == {"vendor": "topsec", "product": "TopVPN", "type": "vpn"}
    line = (b'id=tos time="2024-03-01 10:00:00" fw=TopsecOS pri=6 type=conn src=192.168.89.222 '
            b'dst=192.168.89.255 proto=udp sport=137 dport=137 inpkt=1 outpkt=0 sent=78 rcvd=0 msg="null"')
    batch = RawBatch([line, line], 1_764_000_000_000_000_000, "syslog-udp", "10.9.0.1:514", source.id,
                     "syslog", device=source.device)
    results = normalize(RawBatch.decode(batch.encode()).encode())
    assert [key for key, _ in results] == [b"county-vpn"] * 2
    for _, doc in results:
        assert doc["observer"]["vendor"] == "topsec"
        assert doc["observer"]["product"] == "TopVPN"
        assert doc["observer"]["type"] == "vpn"
        assert doc["source"]["ip"] == "192.168.89.222"
