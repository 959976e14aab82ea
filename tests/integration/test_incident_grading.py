"""Classification and grading of an incident through the API on the real Elasticsearch.

An analyst opens an incident from alerts of a CII system of MLPS level 3 (a brute force, then a
webshell): POST …/grade classifies it (网络攻击事件 / 后门植入事件) and grades it as the rules of
reporting/grading.yml say for such a system (computed here with the same engine, at least the
CII rule's grade), the deadlines follow the CII operator type, the basis says why, the timeline has
a `grading` entry. An override without a reason is 422 and changes nothing (and is audited as a
failure); with a reason it is stored, is a `grading_override` timeline entry and its reason is in
the audit record of the call; a category override with an unknown code is 422. Another tenant's
analyst gets 404, an officer 403; the list shows the grade.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from elasticsearch import Elasticsearch

from soc.api.main import create_app
from soc.assets import load_inventory
from soc.config import PROJECT_ROOT, Settings
from soc.model import Alert
from soc.reporting.grading import GRADES, classify, grade, load_grading

from .conftest import drop_indices
from .test_api_incidents import USERS, login, seed, settings_for

pytestmark = pytest.mark.integration
RANK = {g: len(GRADES) - 1 - i for i, g in enumerate(GRADES)}
ASSETS = """
internal_networks: [10.0.0.0/8]
assets:
  - {name: 政务服务网, owner: 市政务服务管理局, tenant: dept-a, mlps_level: 3, criticality: high, cii: true,
     networks: [10.10.0.0/24], hosts: [gov-web-01]}
  - {name: A办公自动化系统, owner: A办, tenant: dept-a, mlps_level: 2, networks: [10.60.0.0/16]}
"""
GOV = {"name": "政务服务网", "owner": "市政务服务管理局", "mlps_level": 3, "criticality": "high", "cii": True}


def sigma_alert(rel: str, src: str, minutes_ago: int, tenant: str = "dept-a") -> dict[str, Any]:
    import yaml
    rule = yaml.safe_load((PROJECT_ROOT / "rules" / rel).read_text(encoding="utf-8"))
    when = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return Alert(rule_id=rule["id"], rule_name=rule["title"], level=rule["level"], group_key=f"{rule['id']}|{src}",
                 first_seen=when, last_seen=when, event_ids=[f"{src}-{rel}"], count=1, tags=rule["tags"],
                 context={"source": {"ip": src}, "destination": {"ip": "10.10.0.5"}, "labels": {"tenant": tenant},
                          "soc": {"asset": GOV}}, window_start_id=f"{src}-{rel}").to_doc()


def test_grading_an_incident_of_a_cii_level_3_system(base_settings: Settings, es: Elasticsearch, tmp_path: Path) -> None:
    prefix = f"api{uuid.uuid4().hex[:8]}"
    assets_file = tmp_path / "assets.yaml"
    assets_file.write_text(ASSETS, encoding="utf-8")
    s = settings_for(base_settings, prefix, assets_file)
    brute = sigma_alert("correlation/ssh_bruteforce.yml", "203.0.113.7", 40)
    shell = sigma_alert("waf/web_waf_webshell.yml", "203.0.113.7", 10)
    ids = [a["soc"]["alert"]["id"] for a in (brute, shell)]

    async def run() -> None:
        await seed(s, [brute, shell])
        app = create_app(s)
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://soc") as c:
                csrf = await login(c, "analyst")
                r = await c.post("/api/v1/incidents", headers=csrf,
                                 json={"title": "政务服务网 Webshell", "alert_ids": ids})
                assert r.status_code == 201, r.text
                iid = r.json()["id"]
                assert r.json()["grade"] is None and r.json()["category"] is None  # not graded yet

                # Computed: from its alerts and the inventory.
                r = await c.post(f"/api/v1/incidents/{iid}/grade", headers=csrf)
                assert r.status_code == 200, r.text
                inc = r.json()
                assert (inc["category"], inc["category_code"]) == ("网络攻击事件", "NA")
                assert (inc["subcategory"], inc["subcategory_code"]) == ("后门植入事件", "NABACKIMPL")
                expected = grade({"labels": {"tenant": "dept-a"}, "soc": {"incident": {"assets": ["政务服务网"]}}},
                                 [brute, shell], load_inventory(assets_file), datetime.now(UTC), load_grading(),
                                 classification=classify([brute, shell]))
                cii_rule = next(r for r in load_grading().rules if r.when.cii and r.when.mlps_level_gte
                                and r.when.availability_impact is None and r.when.duration_hours_gte is None)
                assert (inc["grade"], inc["grade_code"]) == (expected.grade, expected.code), inc["grade_basis"]
                assert RANK[inc["grade"]] >= RANK[cii_rule.grade] >= RANK["较大"]
                assert any(cii_rule.id in b for b in inc["grade_basis"])
                assert inc["grade_basis"][-1] == f"定级结果：{inc['grade']}（{inc['grade_code']}）"
                assert any("政务服务网（等保第三级，关键信息基础设施" in b for b in inc["grade_basis"])
                assert any("T1505.003" in b for b in inc["classification_basis"])
                assert (inc["operator_type"], inc["graded_by"], inc["grade_override"]) == ("cii", "analyst", False)
                assert inc["graded_at"] and inc["grade_override_reason"] is None

                detail = (await c.get(f"/api/v1/incidents/{iid}")).json()
                last = detail["timeline"][-1]
                assert (last["kind"], last["actor"]) == ("grading", "analyst")
                assert inc["grade"] in last["text"] and "后门植入事件" in last["text"] and "cii" in last["text"]

                # An override without a reason: 422, nothing changes.
                for body in ({"grade": "重大"}, {"grade": "重大", "reason": "   "}, {"subcategory_code": "NACRED"}):
                    r = await c.post(f"/api/v1/incidents/{iid}/grade", headers=csrf, json=body)
                    assert r.status_code == 422, (body, r.text)
                    assert "reason" in r.text
                after = (await c.get(f"/api/v1/incidents/{iid}")).json()
                assert after["incident"]["grade"] == inc["grade"] and len(after["timeline"]) == len(detail["timeline"])

                # With a reason: stored, a timeline entry of its own kind.
                reason = "经核实政务服务网主要功能中断3小时，影响全市办事群众"
                r = await c.post(f"/api/v1/incidents/{iid}/grade", headers=csrf,
                                 json={"grade": "重大", "reason": reason})
                assert r.status_code == 200, r.text
                o = r.json()
                assert (o["grade"], o["grade_code"], o["grade_override"]) == ("重大", "II", True)
                assert o["grade_override_reason"] == reason
                assert o["grade_basis"][0] == f"分析员 analyst 人工定级为 重大（II），原因：{reason}"
                assert inc["grade"] in o["grade_basis"][1]  # what the rules said stays on record
                assert o["subcategory_code"] == "NABACKIMPL"  # the category was not overridden
                last = (await c.get(f"/api/v1/incidents/{iid}")).json()["timeline"][-1]
                assert (last["kind"], last["actor"]) == ("grading_override", "analyst")
                assert reason in last["text"] and "重大" in last["text"]

                # A category override: a known code with a reason; an unknown one is 422.
                r = await c.post(f"/api/v1/incidents/{iid}/grade", headers=csrf,
                                 json={"subcategory_code": "NAZZZ", "reason": "x"})
                assert r.status_code == 422 and "NAZZZ" in r.text
                r = await c.post(f"/api/v1/incidents/{iid}/grade", headers=csrf,
                                 json={"category_code": "MP", "subcategory_code": "NACRED", "reason": "x"})
                assert r.status_code == 422
                r = await c.post(f"/api/v1/incidents/{iid}/grade", headers=csrf,
                                 json={"subcategory_code": "NACRED", "reason": "Webshell 告警为误报，实为口令爆破"})
                assert r.status_code == 200, r.text
                assert (r.json()["category"], r.json()["subcategory"]) == ("网络攻击事件", "凭据攻击事件")
                assert r.json()["classification_basis"][0].endswith("原因：Webshell 告警为误报，实为口令爆破")

                # Scoping and roles.
                listed = (await c.get("/api/v1/incidents")).json()
                assert [i["grade"] for i in listed if i["id"] == iid] == [r.json()["grade"]]
                for name, code in (("officer-a", 403), ("officer-b", 403)):
                    h = await login(c, name)
                    assert (await c.post(f"/api/v1/incidents/{iid}/grade", headers=h)).status_code == code
                h = await login(c, "analyst-a")  # an analyst of dept-a sees it
                assert (await c.post(f"/api/v1/incidents/{iid}/grade", headers=h)).status_code == 200

                # The audit trail: the reason is in the record of the call; the refused one is there too.
                await login(c, "auditadmin")
                trail = (await c.get("/api/v1/audit", params={"size": 1000})).json()
                calls = [t for t in trail if t["action"] == f"POST /api/v1/incidents/{iid}/grade"]
                ok = [t for t in calls if t["outcome"] == "success" and t["details"].get("reason") == reason]
                assert len(ok) == 1, calls
                d = ok[0]["details"]
                assert (d["override"], d["requested_grade"], d["grade"], d["incident_id"]) == (True, "重大", "重大", iid)
                assert d["via"] == "session" and ok[0]["actor"] == "analyst"
                refused = [t for t in calls if t["outcome"] == "failure: HTTP 422"]
                assert len(refused) >= 5
                assert (await c.get("/api/v1/audit/verify")).json()["ok"]

    try:
        asyncio.run(run())
    finally:
        drop_indices(es, prefix)


def test_another_tenants_incident_is_404_and_no_inventory_still_grades(base_settings: Settings,
                                                                        es: Elasticsearch) -> None:
    prefix = f"api{uuid.uuid4().hex[:8]}"
    s = settings_for(base_settings, prefix, None)
    a = sigma_alert("correlation/ssh_bruteforce.yml", "203.0.113.8", 5, tenant="dept-b")

    async def run() -> None:
        await seed(s, [a])
        app = create_app(s)
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://soc") as c:
                csrf = await login(c, "analyst")
                iid = (await c.post("/api/v1/incidents", headers=csrf,
                                    json={"title": "x", "alert_ids": [a["soc"]["alert"]["id"]]})).json()["id"]
                # No inventory configured: graded from the alerts' own enrichment.
                r = await c.post(f"/api/v1/incidents/{iid}/grade", headers=csrf, json={})
                assert r.status_code == 200 and r.json()["operator_type"] == "cii", r.text
                assert (await c.post("/api/v1/incidents/nope/grade", headers=csrf)).status_code == 404
                h = await login(c, "analyst-a")  # dept-a only: a dept-b incident does not exist for them
                assert (await c.post(f"/api/v1/incidents/{iid}/grade", headers=h,
                                     json={"grade": "一般", "reason": "x"})).status_code == 404

    assert USERS["analyst-a"][1] == ["dept-a"]
    try:
        asyncio.run(run())
    finally:
        drop_indices(es, prefix)
