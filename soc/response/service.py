"""Assembling the response side from the settings: playbooks, safety, adapters, channels.

Used by the worker (respond agent and sweep timer) and by `soc block`. A configuration that
cannot work (a bad adapter or channel, an allowlist entry that is no network) stops the start
with its reason; a bad playbook file is left out whole and named (soc/response/playbook.py).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from elasticsearch import AsyncElasticsearch

from soc.assets import AssetInventory, load_inventory
from soc.config import ConfigError, Settings
from soc.model import Doc, get_path
from soc.response.adapters import Adapter
from soc.response.adapters.nftables import NftablesAdapter, NftablesConfig
from soc.response.blocks import BlockStore, utcnow
from soc.response.engine import Responder, Safety
from soc.response.enforce import Enforcer
from soc.response.intel import load_intel
from soc.response.playbook import load_playbooks
from soc.reporting.auto import grade_and_report
from soc.reporting.incidents import IncidentStore

ALWAYS_ALLOWED = [("127.0.0.0/8", "本机回环 loopback"), ("::1/128", "本机回环 loopback"),
                  ("169.254.0.0/16", "链路本地 link-local"), ("fe80::/10", "链路本地 link-local")]


@dataclass
class Response:
    responder: Responder
    enforcer: Enforcer
    problems: list[str]  # playbook files left out, each with file:line: problem
    warnings: list[str]  # devices or channels a playbook names that this worker has not configured


def safety(settings: Settings, inventory: AssetInventory) -> Safety:
    r = settings.response
    allow = [(ipaddress.ip_network(c, strict=False), why) for c, why in ALWAYS_ALLOWED]
    allow += [(ipaddress.ip_network(e.cidr, strict=False), e.reason) for e in r.allowlist]
    for asset in inventory.assets:
        if asset.criticality == "critical":
            allow += [(ipaddress.ip_network(n, strict=False), f"关键资产 {asset.name}") for n in asset.networks]
    return Safety(allowlist=allow, approval_wider_than_v4=r.approval_wider_than_v4,
                  approval_wider_than_v6=r.approval_wider_than_v6,
                  approval_criticality=tuple(r.approval_criticality), max_blocks_per_minute=r.max_blocks_per_minute,
                  max_ttl_s=r.max_ttl_s)


def adapters(settings: Settings) -> dict[str, Adapter]:
    out: dict[str, Adapter] = {}
    r = settings.response
    try:
        if r.nftables is not None:
            nft = NftablesAdapter(NftablesConfig.model_validate(r.nftables))
            out[nft.name] = nft
        if r.rest_adapters:
            from soc.response.adapters.rest import RestAdapter, RestAdapterConfig, validate

            for raw in r.rest_adapters:
                cfg = RestAdapterConfig.model_validate(raw)
                validate(cfg)
                out[cfg.name] = RestAdapter(cfg)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - any bad adapter configuration stops the start, named
        raise ConfigError(f"response adapters: {exc}") from None
    return out


def notifier(settings: Settings) -> Callable[[str, str, Doc, dict[str, Any]], Awaitable[None]] | None:
    r = settings.response
    if not r.channels:
        return None
    from pydantic import TypeAdapter, ValidationError

    from soc.response import notify

    try:
        channels = TypeAdapter(notify.ChannelsConfig).validate_python(r.channels)
    except ValidationError as exc:
        raise ConfigError(f"response.channels: {exc}") from None
    templates = r.playbooks_dir / "templates"

    async def send(channel: str, template: str, alert: Doc, extra: dict[str, Any]) -> None:
        if channel not in channels:
            raise notify.NotifyError(f"channel {channel!r} is not configured (response.channels)")
        subject, body = notify.render(templates, template, alert, extra)
        await notify.send(channels[channel], subject, body, name=channel)

    return send


def enricher(settings: Settings, es: AsyncElasticsearch) -> Callable[[Doc, int | None, bool], Awaitable[Doc]]:
    """The enrich step: the asset (already on the alert), the source's recent alerts, the local
    threat-intelligence file's indicators for it."""
    intel = load_intel(settings.response.threat_intel_file)
    alerts = f"{settings.elastic.index_prefix}-alerts"

    async def enrich(alert: Doc, history_s: int | None, threat_intel: bool) -> Doc:
        found: Doc = {}
        source = get_path(alert, "source.ip")
        if get_path(alert, "soc.asset"):
            found["asset"] = get_path(alert, "soc.asset")
        if history_s and isinstance(source, str):
            try:
                res = await es.search(index=alerts, size=0, ignore_unavailable=True, query={"bool": {"filter": [
                    {"term": {"source.ip": source}}, {"range": {"@timestamp": {"gte": f"now-{history_s}s"}}}]}},
                    aggs={"r": {"terms": {"field": "rule.name", "size": 10}}})
                found["history"] = {"window_s": history_s, "alerts": res["hits"]["total"]["value"],
                                    "rules": [b["key"] for b in res["aggregations"]["r"]["buckets"]]}
            except Exception as exc:  # noqa: BLE001 - enrichment is best effort, said so
                found["history_error"] = str(exc)[:200]
        if threat_intel and isinstance(source, str):
            found["threat_intel"] = intel.match(source)
        return found

    return enrich


def build(settings: Settings, es: AsyncElasticsearch,
          raise_alert: Callable[[Doc], Awaitable[None]] | None = None) -> Response:
    inventory = load_inventory(settings.assets_file)
    books, problems = load_playbooks(settings.response.playbooks_dir)
    store = BlockStore(es, settings.elastic.index_prefix)
    guard = safety(settings, inventory)
    enforcer = Enforcer(store, adapters(settings), guard, settings.response.apply_attempts, raise_alert)

    def criticality_of(ip: str) -> str | None:
        asset = inventory.by_ip(ip)
        return asset.criticality if asset is not None else None

    notify = notifier(settings)
    incidents = IncidentStore(es, settings.elastic.index_prefix)
    async def report(incident_id: str, kind: str, actor: str) -> tuple[str, list[Doc], list[dict[str, str]]]:
        return await grade_and_report(es, settings, incident_id, kind, actor, utcnow())

    responder = Responder(books, store, guard, enforcer.apply, notify, enrich=enricher(settings, es),
                          open_incident=incidents.open_or_update, criticality_of=criticality_of,
                          report=report if settings.reporting.endpoints else None)
    known_devices = {"feed", *enforcer.adapters}
    warnings = []
    for book in books:
        for step in book.steps:
            for device in getattr(step, "devices", []):
                if device not in known_devices:
                    warnings.append(f"{book.source}: {book.id}: device {device!r} is not configured here "
                                    "(response.nftables / response.rest_adapters): its blocks are recorded as failed")
            channel = getattr(step, "channel", None)
            if channel is not None and channel not in settings.response.channels:
                warnings.append(f"{book.source}: {book.id}: channel {channel!r} is not configured "
                                "(response.channels): its notices are recorded as failed")
    return Response(responder, enforcer, problems, warnings)
