"""A playbook that meets Elasticsearch away is run again later, not recorded as failed.

The incidents, blocks and actions live in Elasticsearch: while it is down, a step that needs it
raises instead of recording a failed action, so the respond stage waits and runs the alert's
playbooks again (soc/stream/app.py). Any other failure is still recorded and the playbook goes
on, as before."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from elastic_transport import ApiResponseMeta, ConnectionError, HttpHeaders, NodeConfig
from elasticsearch import ApiError, NotFoundError

from soc.model import Doc
from soc.response.engine import Responder
from soc.response.playbook import Playbook
from soc.store.bulk import unavailable

BOOK = Playbook.model_validate({
    "id": "open-on-brute", "name": "开事件", "trigger": {"rules": ["r1"]},
    "steps": [{"action": "open_incident"}], "on_failure": "continue",
})
ALERT: Doc = {"rule": {"id": "r1", "name": "SSH 暴力破解"}, "soc": {"alert": {"id": "a1", "revision": 1}}}


def api_error(status: int, cls: type[ApiError] = ApiError) -> ApiError:
    meta = ApiResponseMeta(status=status, http_version="1.1", headers=HttpHeaders(), duration=0.0,
                           node=NodeConfig("http", "127.0.0.1", 9200))
    return cls(message=f"HTTP {status}", meta=meta, body={})


def responder(error: Exception) -> Responder:
    async def open_incident(alert: Doc, title: str, by: str) -> tuple[str, bool]:
        raise error
    return Responder([BOOK], store=None, safety=None, apply=None, open_incident=open_incident)  # type: ignore[arg-type]


@pytest.mark.parametrize("error", [ConnectionError("connection refused"), api_error(503), api_error(429)],
                         ids=["refused", "503", "429"])
def test_elasticsearch_away_makes_the_playbook_wait(error: Exception) -> None:
    assert unavailable(error)
    with pytest.raises(type(error)):
        asyncio.run(responder(error).handle(ALERT))


@pytest.mark.parametrize("error", [ValueError("no such tenant"), api_error(404, NotFoundError), api_error(400)],
                         ids=["value", "404", "400"])
def test_any_other_failure_is_recorded_and_the_playbook_goes_on(error: Exception) -> None:
    assert not unavailable(error)
    actions: list[Any] = asyncio.run(responder(error).handle(ALERT))
    assert [(a["soc"]["action"]["kind"], a["soc"]["action"]["state"]) for a in actions] == [("open_incident", "failed")]


def test_a_wrapped_connection_error_counts_as_away() -> None:
    try:
        try:
            raise ConnectionError("reset by peer")
        except ConnectionError as inner:
            raise RuntimeError("could not open the incident") from inner
    except RuntimeError as outer:
        assert unavailable(outer)
