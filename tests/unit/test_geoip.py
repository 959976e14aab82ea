"""GeoIP enrichment from local MaxMind-format files, built here with mmdb-writer.

The files are shaped like GeoLite2-City and GeoLite2-ASN; every expectation is read back from
the records written below, not from soc.geoip's own output.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from soc.config import ConfigError, load_settings
from soc.geoip import GeoIP, load_geoip, public_address

ASIA = {"code": "AS", "geoname_id": 6255147, "names": {"en": "Asia", "zh-CN": "亚洲"}}
NORTH_AMERICA = {"code": "NA", "geoname_id": 6255149, "names": {"en": "North America", "zh-CN": "北美洲"}}
CHINA = {"geoname_id": 1814991, "iso_code": "CN", "names": {"en": "China", "zh-CN": "中国"}}
USA = {"geoname_id": 6252001, "iso_code": "US", "names": {"en": "United States", "zh-CN": "美国"}}

BEIJING = {
    "continent": ASIA,
    "country": CHINA,
    "registered_country": CHINA,
    "subdivisions": [{"geoname_id": 2038349, "iso_code": "BJ", "names": {"en": "Beijing", "zh-CN": "北京市"}}],
    "city": {"geoname_id": 1816670, "names": {"en": "Beijing", "zh-CN": "北京"}},
    "location": {"accuracy_radius": 50, "latitude": 39.9042, "longitude": 116.4074, "time_zone": "Asia/Shanghai"},
}
# A city with no Chinese name, as GeoLite2 has for many smaller places.
MOUNTAIN_VIEW = {
    "continent": NORTH_AMERICA,
    "country": USA,
    "subdivisions": [{"iso_code": "CA", "names": {"en": "California", "zh-CN": "加利福尼亚州"}}],
    "city": {"geoname_id": 5375480, "names": {"en": "Mountain View", "de": "Mountain View"}},
    "location": {"accuracy_radius": 1000, "latitude": 37.386, "longitude": -122.0838},
}
GUANGZHOU = {
    "continent": ASIA,
    "country": CHINA,
    "subdivisions": [{"iso_code": "GD", "names": {"en": "Guangdong", "zh-CN": "广东省"}}],
    "city": {"names": {"en": "Guangzhou", "zh-CN": "广州"}},
    "location": {"latitude": 23.1167, "longitude": 113.25},
}
PRIVATE = {"country": CHINA, "city": {"names": {"en": "LAN", "zh-CN": "内网"}}}  # never to be used

CITY_NETS = {
    "36.110.0.0/16": BEIJING,
    "8.8.8.0/24": MOUNTAIN_VIEW,
    "240e::/20": GUANGZHOU,
    # Records for non-public ranges, so that "nothing" means "skipped", not "not found".
    "10.0.0.0/8": PRIVATE,
    "192.168.0.0/16": PRIVATE,
    "100.64.0.0/10": PRIVATE,
    "127.0.0.0/8": PRIVATE,
    "169.254.0.0/16": PRIVATE,
    "fc00::/7": PRIVATE,
    "fe80::/10": PRIVATE,
}
CHINANET = {"autonomous_system_number": 4134, "autonomous_system_organization": "CHINANET-BACKBONE"}
GOOGLE = {"autonomous_system_number": 15169, "autonomous_system_organization": "GOOGLE"}
ASN_NETS = {
    "36.110.0.0/16": CHINANET,
    "240e::/20": CHINANET,
    "8.8.8.0/24": GOOGLE,
    "10.0.0.0/8": {"autonomous_system_number": 64512, "autonomous_system_organization": "PRIVATE"},
}
NOT_IN_DB = "9.9.9.9"


def _write(path: Path, database_type: str, nets: dict[str, Any], ip_version: int = 6) -> Path:
    writer = MMDBWriter(ip_version=ip_version, database_type=database_type, languages=["en", "zh-CN"],
                        description="soc test database", ipv4_compatible=ip_version == 6)
    for net, record in nets.items():
        writer.insert_network(IPSet([net]), copy.deepcopy(record))
    writer.to_db_file(str(path))
    return path


@pytest.fixture(scope="module")
def dbs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("geoip")
    return (_write(d / "GeoLite2-City.mmdb", "GeoLite2-City", CITY_NETS),
            _write(d / "GeoLite2-ASN.mmdb", "GeoLite2-ASN", ASN_NETS))


@pytest.fixture
def geo(dbs: tuple[Path, Path]) -> Any:
    with GeoIP.open(dbs) as g:
        yield g


def _expected_geo(record: dict[str, Any], city_lang: str = "zh-CN") -> dict[str, Any]:
    sub = record["subdivisions"][0]
    return {
        "continent_name": record["continent"]["names"]["zh-CN"],
        "country_iso_code": record["country"]["iso_code"],
        "country_name": record["country"]["names"]["zh-CN"],
        "region_iso_code": f"{record['country']['iso_code']}-{sub['iso_code']}",
        "region_name": sub["names"]["zh-CN"],
        "city_name": record["city"]["names"][city_lang],
        "location": {"lat": record["location"]["latitude"], "lon": record["location"]["longitude"]},
    }


def test_a_public_address_gets_chinese_names_location_and_its_as(geo: GeoIP) -> None:
    doc: dict[str, Any] = {"source": {"ip": "36.110.1.2", "port": 51000}, "destination": {"ip": "10.10.0.8"}}
    geo.enrich(doc)
    assert doc["source"]["geo"] == _expected_geo(BEIJING)
    assert doc["source"]["as"] == {"number": CHINANET["autonomous_system_number"],
                                   "organization": {"name": CHINANET["autonomous_system_organization"]}}
    assert doc["source"]["port"] == 51000
    assert doc["destination"] == {"ip": "10.10.0.8"}  # private, though the files have records for it


def test_a_name_missing_in_chinese_falls_back_to_english(geo: GeoIP) -> None:
    doc: dict[str, Any] = {"destination": {"ip": "8.8.8.8"}}
    geo.enrich(doc)
    assert doc["destination"]["geo"] == _expected_geo(MOUNTAIN_VIEW, city_lang="en")
    assert doc["destination"]["as"]["number"] == GOOGLE["autonomous_system_number"]


@pytest.mark.parametrize("ip", [
    "10.1.2.3", "192.168.1.1", "100.64.0.1", "100.127.255.254", "127.0.0.1", "169.254.1.1",
    "fd00::1", "fe80::1", "::1", "0.0.0.0", "255.255.255.255", "224.0.0.5", "240.0.0.1",
    "192.0.2.1", "203.0.113.9",  # documentation ranges
])
def test_non_public_addresses_get_nothing(geo: GeoIP, ip: str) -> None:
    doc: dict[str, Any] = {"source": {"ip": ip}, "destination": {"ip": ip}}
    geo.enrich(doc)
    assert doc == {"source": {"ip": ip}, "destination": {"ip": ip}}
    assert public_address(ip) is None


def test_a_public_ipv6_address_works(geo: GeoIP) -> None:
    doc: dict[str, Any] = {"source": {"ip": "240e:3a1:4c:1::7"}}
    geo.enrich(doc)
    assert doc["source"]["geo"] == _expected_geo(GUANGZHOU) | {"continent_name": ASIA["names"]["zh-CN"]}
    assert doc["source"]["as"]["organization"]["name"] == CHINANET["autonomous_system_organization"]


def test_an_ipv4_mapped_ipv6_address_is_looked_up_as_ipv4(geo: GeoIP) -> None:
    doc: dict[str, Any] = {"source": {"ip": "::ffff:36.110.9.9"}, "destination": {"ip": "::ffff:10.0.0.1"}}
    geo.enrich(doc)
    assert doc["source"]["geo"]["city_name"] == BEIJING["city"]["names"]["zh-CN"]
    assert "geo" not in doc["destination"]


def test_an_address_not_in_the_files_gets_nothing(geo: GeoIP) -> None:
    doc: dict[str, Any] = {"source": {"ip": NOT_IN_DB}, "destination": {"ip": "2a00:1450::1"}}
    geo.enrich(doc)
    assert doc == {"source": {"ip": NOT_IN_DB}, "destination": {"ip": "2a00:1450::1"}}


def test_client_and_server_are_enriched_too(geo: GeoIP) -> None:
    doc: dict[str, Any] = {"client": {"ip": "8.8.8.8"}, "server": {"ip": "36.110.0.1"}}
    geo.enrich(doc)
    assert doc["client"]["geo"]["country_iso_code"] == USA["iso_code"]
    assert doc["server"]["as"]["number"] == CHINANET["autonomous_system_number"]


def test_an_asn_file_alone_gives_only_the_as(dbs: tuple[Path, Path]) -> None:
    with GeoIP.open(dbs[1]) as g:
        doc: dict[str, Any] = {"source": {"ip": "8.8.8.8"}}
        g.enrich(doc)
    assert doc["source"] == {"ip": "8.8.8.8", "as": {"number": GOOGLE["autonomous_system_number"],
                                                      "organization": {"name": GOOGLE["autonomous_system_organization"]}}}


def test_a_country_file_and_an_ipv4_only_file(tmp_path: Path) -> None:
    country = {"continent": ASIA, "country": CHINA}
    path = _write(tmp_path / "GeoLite2-Country.mmdb", "GeoLite2-Country", {"36.110.0.0/16": country}, ip_version=4)
    with GeoIP.open(str(path)) as g:
        doc: dict[str, Any] = {"source": {"ip": "36.110.1.1"}, "destination": {"ip": "240e::1"}}
        g.enrich(doc)  # an IPv6 look-up in an IPv4-only file must not raise
    assert doc["source"]["geo"] == {"continent_name": ASIA["names"]["zh-CN"],
                                    "country_iso_code": CHINA["iso_code"], "country_name": CHINA["names"]["zh-CN"]}
    assert doc["destination"] == {"ip": "240e::1"}


def test_fields_the_device_reported_are_kept(geo: GeoIP) -> None:
    doc: dict[str, Any] = {"source": {"ip": "36.110.1.2", "geo": {"country_name": "China"}}}
    geo.enrich(doc)
    assert doc["source"]["geo"]["country_name"] == "China"
    assert doc["source"]["geo"]["city_name"] == BEIJING["city"]["names"]["zh-CN"]


def test_a_document_without_addresses_is_left_alone(geo: GeoIP) -> None:
    for doc in ({}, {"message": "x"}, {"source": {"port": 1}}, {"host": {"ip": ["36.110.1.2"]}},
                {"source": {"ip": None}}, {"source": {"ip": ["36.110.1.2"]}}, {"source": "36.110.1.2"}):
        before = copy.deepcopy(doc)
        geo.enrich(doc)
        assert doc == before


@pytest.mark.parametrize("ip", ["", "not-an-ip", "999.1.1.1", "36.110.1", "36.110.1.2:443", "fe80::1%eth0", " ", "::ffff:"])
def test_a_malformed_address_gets_nothing_and_does_not_raise(geo: GeoIP, ip: str) -> None:
    doc: dict[str, Any] = {"source": {"ip": ip}}
    geo.enrich(doc)
    assert doc == {"source": {"ip": ip}}


@settings(max_examples=200, deadline=None)
@given(ip=st.one_of(st.text(max_size=45), st.ip_addresses().map(str)))
def test_enrich_never_raises(dbs: tuple[Path, Path], ip: str) -> None:
    doc: dict[str, Any] = {"source": {"ip": ip}, "destination": {"ip": ip}}
    with GeoIP.open(dbs) as g:
        g.enrich(doc)
    assert doc["source"]["ip"] == ip and doc["destination"]["ip"] == ip


def test_look_ups_are_cached_and_documents_do_not_share_the_cached_values(dbs: tuple[Path, Path]) -> None:
    with GeoIP.open(dbs) as g:
        first: dict[str, Any] = {"source": {"ip": "36.110.1.2"}}
        g.enrich(first)
        first["source"]["geo"]["location"]["lat"] = 0.0
        first["source"]["geo"]["city_name"] = "changed"
        first["source"]["as"]["organization"]["name"] = "changed"
        second: dict[str, Any] = {"destination": {"ip": "36.110.1.2"}}
        g.enrich(second)
        info = g.cache_info()
    assert info.hits >= 1 and info.misses == 1
    assert second["destination"]["geo"] == _expected_geo(BEIJING)
    assert second["destination"]["as"]["organization"]["name"] == CHINANET["autonomous_system_organization"]


def test_a_missing_file_is_an_error_naming_it(tmp_path: Path, dbs: tuple[Path, Path]) -> None:
    missing = tmp_path / "GeoLite2-City.mmdb"
    with pytest.raises(ConfigError, match="does not exist") as err:
        GeoIP.open([dbs[1], missing])
    assert str(missing) in str(err.value)


@pytest.mark.parametrize("content", [b"", b"not a MaxMind database\n" * 100])
def test_a_corrupt_file_is_an_error_naming_it(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.mmdb"
    bad.write_bytes(content)
    with pytest.raises(ConfigError, match="not a valid MaxMind DB") as err:
        GeoIP.open(bad)
    assert str(bad) in str(err.value)


def test_a_directory_or_a_file_of_another_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory") as err:
        GeoIP.open(tmp_path)
    assert str(tmp_path) in str(err.value)
    anon = _write(tmp_path / "anon.mmdb", "GeoIP2-Anonymous-IP", {"36.110.0.0/16": {"is_anonymous": True}})
    with pytest.raises(ConfigError, match="GeoIP2-Anonymous-IP") as err:
        GeoIP.open(anon)
    assert str(anon) in str(err.value)


# --------------------------------------------------------------------------- settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No SOC_* variable from the caller, and no soc.yaml in the working directory."""
    for name in list(os.environ):
        if name.startswith("SOC_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_no_databases_configured_means_no_geoip(clean_env: pytest.MonkeyPatch) -> None:
    s = load_settings()
    assert s.geoip_databases == []
    assert load_geoip(s) is None


@pytest.mark.parametrize("form", ["comma", "json"])
def test_the_environment_names_the_files(clean_env: pytest.MonkeyPatch, dbs: tuple[Path, Path], form: str) -> None:
    value = ",".join(map(str, dbs)) if form == "comma" else "[" + ", ".join(f'"{p}"' for p in dbs) + "]"
    clean_env.setenv("SOC_GEOIP_DATABASES", value)
    s = load_settings()
    assert s.geoip_databases == list(dbs)
    g = load_geoip(s)
    assert g is not None
    doc: dict[str, Any] = {"source": {"ip": "36.110.1.2"}}
    g.enrich(doc)
    g.close()
    assert doc["source"]["as"]["number"] == CHINANET["autonomous_system_number"]


def test_soc_yaml_names_the_files_and_a_missing_one_stops_load_geoip(clean_env: pytest.MonkeyPatch, tmp_path: Path,
                                                                   dbs: tuple[Path, Path]) -> None:
    missing = tmp_path / "nowhere" / "GeoLite2-ASN.mmdb"
    cfg = tmp_path / "soc.yaml"
    cfg.write_text(f"geoip_databases:\n  - {dbs[0]}\n  - {missing}\n", encoding="utf-8")
    clean_env.setenv("SOC_CONFIG", str(cfg))
    s = load_settings()
    assert s.geoip_databases == [dbs[0], missing]
    with pytest.raises(ConfigError) as err:
        load_geoip(s)
    assert str(missing) in str(err.value)


def test_a_bad_json_list_names_the_setting(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SOC_GEOIP_DATABASES", '["/a.mmdb",')
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "geoip_databases" in str(err.value) and "SOC_GEOIP_DATABASES" in str(err.value)


def test_the_normalize_stage_adds_location_to_a_parsed_firewall_line(clean_env: pytest.MonkeyPatch,
                                                                     dbs: tuple[Path, Path]) -> None:
    """Wired in: the configured databases enrich what normalize makes of a raw line."""
    from soc.model import RawRecord
    from soc.stream.normalize import load_enrichers, normalize

    clean_env.setenv("SOC_GEOIP_DATABASES", ",".join(map(str, dbs)))
    line = (b"<14>Mar  1 12:00:00 fw01 kernel: IN=eth0 OUT=eth1 SRC=36.110.1.2 DST=10.10.0.8 LEN=60 "
            b"PROTO=TCP SPT=51000 DPT=22 SYN")
    record = RawRecord(line, 1_764_000_000_000_000_000, "syslog-udp", "10.1.0.1:514", "fw01", "syslog")
    key, doc = normalize(record.encode(), load_enrichers(load_settings()))[0]
    assert key is not None, doc
    assert doc["source"]["ip"] == "36.110.1.2"
    assert doc["source"]["geo"] == _expected_geo(BEIJING)
    assert "geo" not in doc["destination"]
