"""Incidents: alerts grouped into one matter to handle (opened by playbooks, by hand later).

A minimal record the reporting issue builds on (GB/T 20986 grading, notices): one document per
(playbook or opener, alert group) in `<prefix>-incidents`, `open` until closed, collecting the
ids of its alerts, the sources and the assets concerned. Opening twice for the same group
updates the open incident instead of making a second one.
"""

from __future__ import annotations

from typing import Any

from elasticsearch import AsyncElasticsearch, NotFoundError

from soc.model import Doc, get_path, now_iso, stable_id


class IncidentStore:
    def __init__(self, es: AsyncElasticsearch, prefix: str) -> None:
        self.es = es
        self.index = f"{prefix}-incidents"

    async def open_or_update(self, alert: Doc, title: str, opened_by: str) -> tuple[str, bool]:
        """The incident for the alert's group: (id, True if it was created now)."""
        group = str(get_path(alert, "soc.alert.group_key", "") or get_path(alert, "rule.id", ""))
        iid = stable_id("incident", opened_by, group)
        alert_id = str(get_path(alert, "soc.alert.id", ""))
        now = now_iso()
        try:
            found = await self.es.get(index=self.index, id=iid)
            inc: dict[str, Any] = found["_source"]["soc"]["incident"]
            created = False
            if inc.get("status") != "open":
                inc.update({"status": "open", "reopened": now})
        except NotFoundError:
            inc = {"id": iid, "title": title, "status": "open", "opened_by": opened_by, "created": now,
                   "alert_ids": [], "source_ips": [], "assets": [], "rule_names": []}
            created = True
        for key, value in (("alert_ids", alert_id), ("source_ips", get_path(alert, "source.ip")),
                           ("assets", get_path(alert, "soc.asset.name")), ("rule_names", get_path(alert, "rule.name"))):
            if value and value not in inc[key]:
                inc[key] = (inc[key] + [value])[-200:]
        inc["updated"] = now
        doc = {"@timestamp": now, "event": {"kind": "event", "dataset": "soc.incidents", "id": iid},
               "labels": {"tenant": get_path(alert, "labels.tenant")}, "soc": {"incident": inc}}
        await self.es.index(index=self.index, id=iid, document=doc, refresh=True)
        return iid, created
