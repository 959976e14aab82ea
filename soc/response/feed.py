"""The blocklist feed: plain-text address lists that firewalls pull (an "external dynamic list").

`GET /blocklist.txt` (every block in force) and `GET /blocklist/<scope>.txt` (a tenant's, with
the blocks for all) answer one address or CIDR block per line and nothing else, the format the
firewall vendors' external-list features read. The list comes from the block store at each
request, so an expired block is gone from it at once, whatever the enforcer is doing. With
`response.feed_token` set, a request must carry it (`?token=` or `Authorization: Bearer`).
Run by `soc block feed`.
"""

from __future__ import annotations

import hmac

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import PlainTextResponse

from soc.config import Settings
from soc.response.blocks import BlockStore, utcnow
from soc.store.client import async_client


def feed_app(settings: Settings) -> FastAPI:
    app = FastAPI(title="SOC blocklist feed", docs_url=None, redoc_url=None, openapi_url=None)
    store = BlockStore(async_client(settings), settings.elastic.index_prefix)
    token = settings.response.feed_token

    def _check(request: Request) -> None:
        if not token:
            return
        given = request.query_params.get("token") or request.headers.get("authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise HTTPException(status_code=401, detail="a valid token is required")

    async def _list(scope: str | None) -> PlainTextResponse:
        blocks = await store.active(utcnow(), scope)
        targets = sorted({b.target for b in blocks})
        return PlainTextResponse("".join(f"{t}\n" for t in targets),
                                 headers={"X-Blocklist-Count": str(len(targets)), "Cache-Control": "no-store"})

    @app.get("/blocklist.txt")
    async def everything(request: Request) -> PlainTextResponse:
        _check(request)
        return await _list(None)

    @app.get("/blocklist/{scope}.txt")
    async def for_scope(scope: str, request: Request) -> PlainTextResponse:
        _check(request)
        return await _list(scope)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
