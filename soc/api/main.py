"""The analysts' API: composed here from its routers, nothing else (soc/api/routers/)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from soc import metrics
from soc.api.accounts import Accounts, Principal
from soc.api.routers import (alerts, assets, audit, auth, blocks, compliance, events, health, incidents, notices,
                             playbooks, rules, users)
from soc.api.security import HEADERS, Services, audit_call, principal
from soc.audit import AuditTrail
from soc.config import PROJECT_ROOT, Settings
from soc.response.blocks import BlockStore
from soc.store.client import async_client


STAGE = "api"
WEB = PROJECT_ROOT / "dashboards" / "web" / "dist"


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        es = async_client(settings)
        prefix = settings.elastic.index_prefix
        app.state.services = Services(settings, es, Accounts(es, prefix, settings.api), AuditTrail(es, prefix),
                                      BlockStore(es, prefix))
        yield
        await es.close()

    # The OpenAPI document is served to signed-in callers only: nothing but /health without.
    app = FastAPI(title="安全运营子平台 API", version="1", lifespan=lifespan, openapi_url=None, docs_url=None,
                  redoc_url=None, description="Security-operations sub-platform: alerts, blocks, audit (sign-in required).")

    @app.middleware("http")
    async def harden_and_audit(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        metrics.RECEIVED.labels(STAGE).inc()
        response = await call_next(request)
        for k, v in HEADERS.items():
            response.headers.setdefault(k, v)
        if response.status_code >= 400:
            metrics.ERRORS.labels(STAGE, f"http_{response.status_code}").inc()
        else:
            metrics.SENT.labels(STAGE).inc()
        await audit_call(request, response.status_code)
        return response

    @app.get("/api/v1/openapi.json", tags=["health"], include_in_schema=False)
    async def openapi(who: Principal = Depends(principal)) -> dict[str, Any]:
        return app.openapi()

    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(alerts.router)
    app.include_router(events.router)
    app.include_router(blocks.router)
    app.include_router(rules.router)
    app.include_router(playbooks.router)
    app.include_router(users.router)
    app.include_router(audit.router)
    app.include_router(incidents.router)
    app.include_router(notices.router)
    app.include_router(assets.router)
    app.include_router(compliance.router)
    if (WEB / "index.html").is_file():  # built by scripts/build-web.sh; the API works without it
        app.mount("/", StaticFiles(directory=WEB, html=True), name="web")
    return app
