"""What a playbook's `report_upstream` step does: grade the incident from its alerts (as the
analyst's "grade" button does, never over an analyst's override) and queue the notice of the
step's kind to every receiver its grade calls for (soc/reporting/notices.py, outbox.py)."""

from __future__ import annotations

from datetime import datetime

from elasticsearch import AsyncElasticsearch

from soc.assets import AssetInventory, load_inventory
from soc.config import Settings
from soc.model import Doc, get_path
from soc.reporting.deadlines import load_deadlines, operator_type_for
from soc.reporting.grading import classify, grade, load_grading, load_taxonomy
from soc.reporting.incidents import IncidentStore
from soc.reporting.notices import queue_notices

ALL = ["*"]


async def auto_grade(store: IncidentStore, settings: Settings, incident_id: str, actor: str, now: datetime,
                     inventory: AssetInventory | None = None, tenants: list[str] | None = None) -> Doc:
    """Classify and grade the incident from its alerts and the inventory; the incident as stored."""
    tenants = tenants or ALL
    doc = await store.get(incident_id, tenants)
    alerts = await store.alerts_of(doc, tenants)
    chosen = classify(alerts, load_taxonomy())
    graded = grade(doc, alerts, inventory or load_inventory(settings.assets_file), now, load_grading(),
                   classification=chosen)
    operator = operator_type_for(bool(graded.facts.get("cii")), settings.reporting.operator_type, load_deadlines())
    return await store.set_grading(incident_id, chosen, graded, actor, None, tenants=tenants, operator_type=operator,
                                   note="")


async def grade_and_report(es: AsyncElasticsearch, settings: Settings, incident_id: str, kind: str, actor: str,
                           now: datetime) -> tuple[str, list[Doc], list[dict[str, str]]]:
    """(grade, notices queued, receivers skipped with their reason). An incident an analyst has
    graded by hand keeps that grade; otherwise it is graded again, as its alerts grow. Raises the notices module's refusals (no receiver for the
    grade, reporting unit not configured, ...)."""
    store = IncidentStore(es, settings.elastic.index_prefix)
    doc = await store.get(incident_id, ALL)
    if not get_path(doc, "soc.incident.grade_override"):  # graded again: more alerts may raise it
        doc = await auto_grade(store, settings, incident_id, actor, now)
    queued, skipped = await queue_notices(es, settings, incident_id, kind, None, actor, ALL, now=now)
    return str(get_path(doc, "soc.incident.grade", "")), queued, skipped
