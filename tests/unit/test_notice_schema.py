"""docs/notice.schema.json: a valid JSON Schema 2020-12; a notice built from an incident validates
against it (and its STIX 2.1 bundle is well formed); notices missing what the measures require, or
saying something inconsistent, do not."""

from __future__ import annotations

import copy
import json
import random
import re
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from jsonschema import Draft202012Validator

from soc.assets import AssetInventory, InventoryFile
from soc.config import ReportingSettings, UpstreamEndpoint
from soc.model import Alert
from soc.reporting import notices
from soc.reporting.notices import NoticeFields, Ransom, build_notice, encode, problems, receivers, schema
from soc.reporting.outbox import backoff_s

NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
REPORTING = ReportingSettings(
    unit="某市大数据发展管理局", unit_code="11330100MB0000000X", contact_name="值班员", contact_phone="0571-12345678",
    contact_email="soc@example.gov.cn", operator_type="general",
    endpoints=[UpstreamEndpoint(name="province", urls=["https://127.0.0.1:9443/api/notices"]),
               UpstreamEndpoint(name="cac-city", recipient="authority", urls=["https://127.0.0.1:9444/api/notices"],
                                min_grade="较大")])
STIX_ID = re.compile(r"^[a-z][a-z0-9-]*--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def alert(src: str = "203.0.113.10", tags: tuple[str, ...] = ("attack.t1110.001", "attack.credential_access")) -> dict:
    return Alert(rule_id="r-brute", rule_name="SSH 暴力破解", level="high", group_key=f"g|{src}",
                 first_seen=NOW - timedelta(hours=2), last_seen=NOW - timedelta(minutes=5), event_ids=["e1", "e2"],
                 count=12, tags=list(tags),
                 context={"source": {"ip": src}, "destination": {"ip": "10.1.0.5", "port": 22},
                          "labels": {"tenant": "dept-a"},
                          "soc": {"asset": {"name": "A系统", "owner": "A局", "mlps_level": 3, "criticality": "high"}}},
                 window_start_id="e1").to_doc()


def incident(grade: str = "较大", code: str = "III", status: str = "open") -> dict:
    inc = {"id": "inc0001", "title": "SSH 暴力破解", "status": status, "created": "2026-03-01T07:00:00.000Z",
           "updated": "2026-03-01T07:30:00.000Z", "closed": "2026-03-01T07:50:00.000Z" if status == "closed" else None,
           "assets": ["A系统"], "source_ips": ["203.0.113.10", "2001:db8::66"], "alert_ids": ["a1"],
           "category": "网络攻击事件", "category_code": "NA", "subcategory": "凭据攻击事件", "subcategory_code": "NACRED",
           "grade": grade, "grade_code": code, "operator_type": "ordinary"}
    return {"labels": {"tenant": "dept-a"}, "soc": {"incident": inc}}


INVENTORY = AssetInventory(InventoryFile.model_validate({"assets": [
    {"name": "A系统", "owner": "A局", "tenant": "dept-a", "mlps_level": 3, "criticality": "high", "cii": True,
     "networks": ["10.1.0.0/24"]}]}))


def built(kind: str = "initial", **kw) -> dict:
    seq, prev = (1, None) if kind == "initial" else (2, "Nprevious0001")
    inc = incident(status="closed") if kind == "final" else incident()
    return build_notice(inc, [alert(), alert("2001:db8::66")], INVENTORY, REPORTING, REPORTING.endpoints[0], kind, seq,
                        "Nnotice0001", prev, NoticeFields(**kw), NOW)


def test_the_schema_is_a_valid_2020_12_schema() -> None:
    s = schema()
    assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(s)
    # What the measures ask a report to hold is required, not optional.
    for field in ("reporting_unit", "affected_systems", "discovered_at", "started_at", "classification", "impact",
                  "measures_taken", "trend", "cause", "leads", "further_measures", "support_requested",
                  "scene_preservation", "kind", "notice_id", "incident_id", "sequence", "sent_at"):
        assert field in s["required"], field


def test_a_built_initial_notice_validates_and_says_what_it_knows() -> None:
    n = built()
    assert problems(n) == []
    assert n["kind"] == "initial" and n["sequence"] == 1 and "previous_notice_id" not in n
    assert n["reporting_unit"]["contact"] == {"name": "值班员", "phone": "0571-12345678", "email": "soc@example.gov.cn"}
    assert n["affected_systems"] == [{"name": "A系统", "mlps_level": 3, "cii": True, "owner": "A局", "tenant": "dept-a",
                                      "criticality": "high", "in_inventory": True}]
    assert n["classification"] == {"standard": "GB/T 20986-2023", "category": "网络攻击事件", "category_code": "NA",
                                   "subcategory": "凭据攻击事件", "subcategory_code": "NACRED", "grade": "较大",
                                   "grade_code": "III"}
    assert n["discovered_at"] == "2026-03-01T07:00:00.000Z" and n["started_at"] == "2026-03-01T06:00:00.000Z"
    assert n["leads"]["attacker_addresses"] == ["203.0.113.10", "2001:db8::66"]
    assert n["leads"]["techniques"] == ["T1110", "T1110.001"]
    assert n["leads"]["detections"] == [{"rule": "SSH 暴力破解", "count": 24, "first_seen": "2026-03-01T06:00:00.000Z",
                                         "last_seen": "2026-03-01T07:55:00.000Z"}]
    assert "203.0.113.10 → 10.1.0.5:22（A系统）" in n["leads"]["attack_path"]
    assert "正在评估" in n["impact"]  # no analyst's words: said plainly what is not known yet
    assert orjson.loads(encode(n)) == n and encode(n) == encode(copy.deepcopy(n))


def test_the_analysts_words_are_used() -> None:
    n = built(impact="门户网站 2 小时不可访问", cause="弱口令", vulnerabilities=["CVE-2024-6387"],
              support_requested="请求省级技术支援", ransomware=Ransom(paid=False))
    assert problems(n) == []
    assert n["impact"] == "门户网站 2 小时不可访问" and n["cause"] == "弱口令"
    assert n["leads"]["vulnerabilities"] == ["CVE-2024-6387"] and n["support_requested"] == "请求省级技术支援"
    assert n["ransomware"] == {"paid": False}
    assert any(o["type"] == "vulnerability" and o["name"] == "CVE-2024-6387" for o in n["indicators"]["objects"])


def test_the_stix_bundle_is_well_formed_stix_2_1() -> None:
    import stix2

    bundle = built()["indicators"]
    assert bundle["type"] == "bundle" and STIX_ID.match(bundle["id"])
    objs = {o["id"]: o for o in bundle["objects"]}
    assert all(o["spec_version"] == "2.1" and STIX_ID.match(o["id"]) for o in objs.values())
    indicators = [o for o in objs.values() if o["type"] == "indicator"]
    assert sorted(i["pattern"] for i in indicators) == ["[ipv4-addr:value = '203.0.113.10']",
                                                         "[ipv6-addr:value = '2001:db8::66']"]
    assert {o["type"] for o in objs.values()} >= {"identity", "ipv4-addr", "ipv6-addr", "attack-pattern", "relationship"}
    for rel in (o for o in objs.values() if o["type"] == "relationship"):
        assert rel["source_ref"] in objs and rel["target_ref"] in objs  # no dangling references
    for i in indicators:
        assert objs[i["created_by_ref"]]["type"] == "identity"
    stix2.parse(bundle, allow_custom=False)  # the library's own validation, strict


def test_follow_up_and_final_validate_and_the_final_needs_its_summary() -> None:
    assert problems(built("follow_up")) == []
    incomplete = built("final", accountability="已追责")
    assert any("summary" in p and "rectification" in p for p in problems(incomplete))
    final = built("final", accountability="已追责", rectification="已整改", lessons="加强口令管理")
    assert problems(final) == [] and final["ended_at"] == "2026-03-01T07:50:00.000Z"


@pytest.mark.parametrize("field", ["reporting_unit", "affected_systems", "discovered_at", "classification", "impact",
                                   "measures_taken", "trend", "cause", "leads", "scene_preservation", "kind",
                                   "notice_id", "sequence", "sent_at", "support_requested"])
def test_a_notice_missing_a_required_field_fails(field: str) -> None:
    n = built()
    del n[field]
    found = problems(n)
    assert found and any(field in p for p in found), found


@pytest.mark.parametrize("path, value, expect", [
    (("reporting_unit", "contact", "phone"), "", "contact/phone"),
    (("classification", "grade"), "很大", "classification/grade"),
    (("classification", "grade_code"), "II", "classification"),  # 较大 is III
    (("classification", "category_code"), "na", "category_code"),
    (("affected_systems",), [], "affected_systems"),
    (("affected_systems", 0, "mlps_level"), 6, "mlps_level"),
    (("discovered_at",), "2026-03-01 07:00", "discovered_at"),
    (("leads", "attacker_addresses"), ["not-an-ip"], "attacker_addresses"),
    (("kind",), "update", "kind"),
    (("sequence",), 2, "sequence"),  # an initial notice is number 1
    (("impact",), "", "impact"),
    (("indicators", "objects", 0, "spec_version"), "2.0", "indicators"),
])
def test_a_notice_with_a_wrong_value_fails(path: tuple, value: object, expect: str) -> None:
    n = built()
    node = n
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    found = problems(n)
    assert found and any(expect in p for p in found), found


def test_unknown_fields_are_refused() -> None:
    n = built()
    n["secret_extra"] = 1
    assert any("secret_extra" in p for p in problems(n))


def test_receivers_follow_the_grade() -> None:
    assert [e.name for e in receivers(REPORTING, "一般")] == ["province"]
    assert [e.name for e in receivers(REPORTING, "较大")] == ["province", "cac-city"]
    assert [e.name for e in receivers(REPORTING, "特别重大")] == ["province", "cac-city"]
    assert receivers(REPORTING, None) == []


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    r = ReportingSettings(retry_base_s=10, retry_max_s=300, retry_jitter=0.2)
    rng = random.Random(7)
    for attempt, base in ((1, 10), (2, 20), (3, 40), (4, 80), (5, 160)):
        waits = [backoff_s(r, attempt, rng) for _ in range(200)]
        assert all(base * 0.8 <= w <= base * 1.2 for w in waits), (attempt, min(waits), max(waits))
        assert max(waits) - min(waits) > base * 0.2  # spread: jitter really applies
    assert all(backoff_s(r, n, rng) <= 300 for n in range(6, 40))
    assert all(backoff_s(r, 30, rng) >= 240 for _ in range(50))


def test_the_schema_file_is_the_one_the_code_reads() -> None:
    assert json.loads(notices.SCHEMA_PATH.read_text(encoding="utf-8")) == schema()
