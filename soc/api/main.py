"""The analysts' API: composed here from its routers, nothing else (soc/api/routers/)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from typing import Any

from fastapi import Depends, FastAPI, Request, Response

from soc.api.accounts import Accounts, Principal
from soc.api.routers import alerts, auth, blocks
from soc.api.security import HEADERS, Services, audit_call, principal
from soc.audit import AuditTrail
from soc.config import Settings
from soc.response.blocks import BlockStore
from soc.store.client import async_client


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
        response = await call_next(request)
        for k, v in HEADERS.items():
            response.headers.setdefault(k, v)
        await audit_call(request, response.status_code)
        return response

    @app.get("/health", tags=["health"])
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/v1/openapi.json", tags=["health"], include_in_schema=False)
    async def openapi(who: Principal = Depends(principal)) -> dict[str, Any]:
        return app.openapi()

    app.include_router(auth.router)
    app.include_router(alerts.router)
    app.include_router(blocks.router)
    return app
