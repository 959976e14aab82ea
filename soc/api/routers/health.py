"""Health (public) and the API's metrics (Prometheus text format, for a signed-in scraper)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from soc import metrics
from soc.api.accounts import Principal
from soc.api.security import require

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}})
async def prometheus(who: Principal = Depends(require("sysadmin", "automation"))) -> Response:
    """The same counters as every stage (`stage="api"`): requests received, answered, errors by status."""
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)
