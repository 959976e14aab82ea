"""The Elasticsearch client for the configured cluster or the local node."""

from __future__ import annotations

from typing import Any

from elasticsearch import AsyncElasticsearch, Elasticsearch

from soc.config import Settings
from soc.stack.elastic import local_credentials


def client_options(settings: Settings) -> dict[str, Any]:
    """Connection options: configured credentials, else the local node's generated ones."""
    es = settings.elastic
    opts: dict[str, Any] = {
        "hosts": [settings.es_url],
        "request_timeout": es.request_timeout_s,
        "retry_on_timeout": False,
        "max_retries": 0,  # the bulk writer owns retries and their backoff
        "http_compress": False,
    }
    if es.api_key:
        opts["api_key"] = es.api_key
    elif es.username and es.password:
        opts["basic_auth"] = (es.username, es.password)
    elif settings.uses_local_elastic:
        creds = local_credentials(settings.stack)
        if creds:
            opts["basic_auth"] = creds
    if es.ca_certs:
        opts["ca_certs"] = str(es.ca_certs)
    return opts


def async_client(settings: Settings) -> AsyncElasticsearch:
    return AsyncElasticsearch(**client_options(settings))


def sync_client(settings: Settings) -> Elasticsearch:
    return Elasticsearch(**client_options(settings))


def index_name(settings: Settings, kind: str) -> str:
    """soc-events, soc-alerts, soc-actions, soc-deadletter (events get a daily suffix)."""
    return f"{settings.elastic.index_prefix}-{kind}"
