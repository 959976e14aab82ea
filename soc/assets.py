"""The asset inventory: the protected systems, whose they are, their MLPS level, and the internal networks.

A YAML file (documented example: assets.example.yaml) read once per process. The normalize
stage enriches each event with the asset it concerns (`soc.asset.*`: name, owner, MLPS level,
criticality), the tenant when the source did not give one, and `network.direction` from the
internal networks. Detection, response, compliance and the dashboards all read those fields.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from soc.config import ConfigError
from soc.model import Doc, get_path, set_path

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Asset(BaseModel):
    """One protected system (信息系统) of a department or county."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    owner: str = ""  # the responsible department (责任单位)
    tenant: str = ""  # department or county, as in labels.tenant
    mlps_level: int = Field(2, ge=1, le=4)  # 等级保护 level as filed (定级备案)
    criticality: Literal["low", "medium", "high", "critical"] = "medium"
    cii: bool = False  # critical information infrastructure (关键信息基础设施)
    networks: list[str] = Field(default_factory=list)
    hosts: list[str] = Field(default_factory=list)

    @field_validator("networks")
    @classmethod
    def _nets(cls, nets: list[str]) -> list[str]:
        for n in nets:
            ipaddress.ip_network(n, strict=False)
        return nets


class Zone(BaseModel):
    """A security zone (安全区域) and the devices at its boundary (区域边界) that must watch it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    tenant: str = ""
    networks: list[str] = Field(default_factory=list)
    # observer.name / observer.hostname / observer.ip of its boundary firewall, IPS and IDS
    boundary_devices: list[str] = Field(default_factory=list)


class InventoryFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    internal_networks: list[str] = Field(default_factory=lambda: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"])
    assets: list[Asset] = Field(default_factory=list)
    zones: list[Zone] = Field(default_factory=list)

    @field_validator("internal_networks")
    @classmethod
    def _nets(cls, nets: list[str]) -> list[str]:
        for n in nets:
            ipaddress.ip_network(n, strict=False)
        return nets


@dataclass(frozen=True, slots=True)
class _Owned:
    network: Network
    asset: Asset


class AssetInventory:
    """Look-ups by host name and by address (the most specific network wins)."""

    def __init__(self, inventory: InventoryFile) -> None:
        self.assets = inventory.assets
        self.zones = inventory.zones
        self.internal = [ipaddress.ip_network(n, strict=False) for n in inventory.internal_networks]
        owned = [_Owned(ipaddress.ip_network(n, strict=False), a) for a in inventory.assets for n in a.networks]
        self._owned = sorted(owned, key=lambda o: o.network.prefixlen, reverse=True)
        self._hosts = {h.lower(): a for a in inventory.assets for h in a.hosts}

    @lru_cache(maxsize=65536)  # noqa: B019 - one inventory per process, addresses repeat
    def by_ip(self, ip: str) -> Asset | None:
        addr = _ip(ip)
        if addr is None:
            return None
        for o in self._owned:
            if addr.version == o.network.version and addr in o.network:
                return o.asset
        return None

    @lru_cache(maxsize=65536)  # noqa: B019
    def is_internal(self, ip: str) -> bool | None:
        addr = _ip(ip)
        if addr is None:
            return None
        return any(addr.version == n.version and addr in n for n in self.internal)

    def enrich(self, doc: Doc) -> None:
        """Set soc.asset.*, labels.tenant (if unset) and network.direction, in place."""
        asset = None
        for field in ("host.name", "host.hostname"):
            name = get_path(doc, field)
            if isinstance(name, str) and (asset := self._hosts.get(name.lower())):
                break
        if asset is None:
            for field in ("destination.ip", "host.ip", "source.ip"):
                value = get_path(doc, field)
                for ip in value if isinstance(value, list) else [value]:
                    if isinstance(ip, str) and (asset := self.by_ip(ip)):
                        break
                if asset is not None:
                    break
        if asset is not None:
            set_path(doc, "soc.asset", {
                "name": asset.name, "owner": asset.owner, "mlps_level": asset.mlps_level,
                "criticality": asset.criticality, "cii": asset.cii,
            })
            if asset.tenant and not get_path(doc, "labels.tenant"):
                set_path(doc, "labels.tenant", asset.tenant)
        src, dst = get_path(doc, "source.ip"), get_path(doc, "destination.ip")
        if isinstance(src, str) and isinstance(dst, str) and not get_path(doc, "network.direction"):
            s_in, d_in = self.is_internal(src), self.is_internal(dst)
            if s_in is not None and d_in is not None:
                direction = {(True, True): "internal", (False, True): "inbound",
                             (True, False): "outbound", (False, False): "external"}[(s_in, d_in)]
                set_path(doc, "network.direction", direction)


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def load_inventory(path: Path | None) -> AssetInventory:
    """Read the inventory; ConfigError naming the file, the entry and the key on a bad one."""
    if path is None:
        return AssetInventory(InventoryFile())
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return AssetInventory(InventoryFile.model_validate(data))
    except FileNotFoundError:
        raise ConfigError(f"asset inventory {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"asset inventory {path} is not valid YAML: {exc}") from None
    except ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc']))}: {e['msg']} (got {e.get('input')!r})" for e in exc.errors()]
        raise ConfigError(f"asset inventory {path}:\n  " + "\n  ".join(problems)) from None
