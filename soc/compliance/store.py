"""Compliance results in `<prefix>-compliance`, with their history, and the scores.

One document per (run, check, subject); a run never overwrites an earlier one, so the trend of
a control is the sequence of its results. The score of a set of results is the share that pass
among those that pass or fail (not applicable and errors are counted apart, never as a pass).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from elasticsearch import AsyncElasticsearch

from soc.compliance.model import Result
from soc.model import stable_id


class ComplianceStore:
    def __init__(self, es: AsyncElasticsearch, prefix: str) -> None:
        self.es = es
        self.index = f"{prefix}-compliance"

    async def write(self, results: list[Result]) -> int:
        if not results:
            return 0
        ops: list[dict[str, Any]] = []
        for r in results:
            ops.append({"index": {"_index": self.index, "_id": stable_id("compliance", r.run_id, r.check_id, r.subject)}})
            ops.append(to_doc(r))
        res = await self.es.bulk(operations=ops, refresh=True)
        if res.get("errors"):
            failed = [i for i in res["items"] if i["index"].get("error")]
            raise RuntimeError(f"{len(failed)} compliance results not stored: {failed[0]['index']['error']}")
        return len(results)

    async def search(self, filters: list[dict[str, Any]], size: int = 1000,
                     sort: list[dict[str, Any]] | None = None) -> list[Result]:
        res = await self.es.options(ignore_status=404).search(
            index=self.index, size=size, query={"bool": {"filter": filters}},
            sort=sort or [{"@timestamp": "desc"}])
        if res.meta.status == 404:
            return []
        return [from_doc(h["_source"]) for h in res["hits"]["hits"]]

    async def latest_run(self, filters: list[dict[str, Any]] | None = None) -> str | None:
        res = await self.es.options(ignore_status=404).search(
            index=self.index, size=1, sort=[{"@timestamp": "desc"}],
            query={"bool": {"filter": filters or []}}, source_includes=["soc.compliance.run_id"])
        hits = res["hits"]["hits"] if res.meta.status == 200 else []
        return hits[0]["_source"]["soc"]["compliance"]["run_id"] if hits else None

    async def latest(self, filters: list[dict[str, Any]] | None = None) -> list[Result]:
        """The results of the most recent run (within the filters)."""
        run = await self.latest_run(filters)
        if run is None:
            return []
        return await self.search([*(filters or []), {"term": {"soc.compliance.run_id": run}}], size=10_000)


def to_doc(r: Result) -> dict[str, Any]:
    return {"@timestamp": r.checked_at, "labels": {"tenant": r.tenant or None},
            "event": {"kind": "state", "dataset": "soc.compliance", "outcome": r.status},
            "soc": {"compliance": r.model_dump(mode="json")}}


def from_doc(doc: dict[str, Any]) -> Result:
    return Result.model_validate(doc["soc"]["compliance"])


def score(results: list[Result]) -> dict[str, Any]:
    counts = defaultdict(int)
    for r in results:
        counts[r.status] += 1
    decided = counts["pass"] + counts["fail"]
    return {"pass": counts["pass"], "fail": counts["fail"], "not_applicable": counts["not_applicable"],
            "error": counts["error"], "score": round(100.0 * counts["pass"] / decided, 1) if decided else None}


def scores(results: list[Result]) -> dict[str, dict[str, dict[str, Any]]]:
    """Scores per system, per department (tenant) and per control."""
    groups: dict[str, dict[str, list[Result]]] = {"system": defaultdict(list), "tenant": defaultdict(list),
                                                  "control": defaultdict(list)}
    for r in results:
        if r.subject_kind == "asset":
            groups["system"][r.subject].append(r)
        groups["tenant"][r.tenant or "*"].append(r)
        groups["control"][r.control].append(r)
    return {k: {name: score(rs) for name, rs in sorted(g.items())} for k, g in groups.items()}
