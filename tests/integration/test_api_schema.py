"""schemathesis against the API's own OpenAPI document, authenticated, on the real stack: for
every operation, generated requests never get a 5xx, and every answer the document describes
matches its schema and content type.

Two callers cover every route between them (one person is never both system and audit
administrator): an analyst who is also system administrator and automation, and the audit
administrator. The live stream (it never ends) is left to test_api_platform.py.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from elasticsearch import Elasticsearch
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from soc.api.accounts import Accounts
from soc.api.main import create_app
from soc.config import load_settings
from soc.response.blocks import utcnow
from soc.store.client import async_client

from .apiseed import api_settings, seed, serve
from .conftest import drop_indices

pytestmark = pytest.mark.integration
SETTINGS = api_settings(load_settings(), Path(tempfile.mkdtemp(prefix="soc-schema-")))
schema = schemathesis.openapi.from_dict(create_app(SETTINGS).openapi()).exclude(path="/api/v1/alerts/stream")
CALLERS = {"operator": ["analyst", "sysadmin", "automation"], "auditor": ["auditadmin"]}


@pytest.fixture(scope="module")
def server(es: Elasticsearch) -> Iterator[tuple[str, dict[str, str]]]:
    async def tokens() -> dict[str, str]:
        await seed(SETTINGS)
        raw = async_client(SETTINGS)
        try:
            acc = Accounts(raw, SETTINGS.elastic.index_prefix, SETTINGS.api)
            return {name: await acc.new_token(name, roles, ["*"], 3600, utcnow()) for name, roles in CALLERS.items()}
        finally:
            await raw.close()

    issued = asyncio.run(tokens())
    with serve(SETTINGS) as base:
        yield base, issued
    drop_indices(es, SETTINGS.elastic.index_prefix)


@pytest.fixture(params=sorted(CALLERS))
def caller(request: pytest.FixtureRequest, server: tuple[str, dict[str, str]]) -> tuple[str, dict[str, str]]:
    base, issued = server
    return base, {"Authorization": f"Bearer {issued[request.param]}"}


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_conforms_to_its_schema(case: schemathesis.Case, caller: tuple[str, dict[str, str]]) -> None:
    base, headers = caller
    case.call_and_validate(base_url=base, headers=headers, timeout=60,
                           checks=[not_a_server_error, response_schema_conformance, content_type_conformance])


def test_the_schema_is_served_to_signed_in_callers_only(server: tuple[str, dict[str, str]]) -> None:
    base, issued = server
    assert httpx.get(f"{base}/api/v1/openapi.json").status_code == 401
    served = httpx.get(f"{base}/api/v1/openapi.json", headers={"Authorization": f"Bearer {issued['auditor']}"})
    assert served.status_code == 200 and "/api/v1/alerts" in served.json()["paths"]

