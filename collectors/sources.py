"""The sources file: which device is which, and how to read it.

A YAML list of sources (documented example: sources.example.yaml). A record from a collector is
matched to a source by its peer address (syslog, HTTP) or its path (file tail); the source gives
its id, message format, charset, time zone, tenant and, where the lines do not tell, the device
(vendor, product, type). Unmatched peers get a default source
named after their address, so nothing is refused for being undeclared.
"""

from __future__ import annotations

import fnmatch
import ipaddress
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from soc.config import ConfigError


class Source(BaseModel):
    """One declared log source."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=128, pattern=r"^[\w.:\-/]+$")
    description: str = ""
    peers: list[str] = Field(default_factory=list)  # IPs or CIDRs (syslog, HTTP)
    paths: list[str] = Field(default_factory=list)  # globs (file tail)
    format: str = ""  # a registered format name, or "" to detect from the content
    charset: str = "utf-8"
    timezone: str = "Asia/Shanghai"
    tenant: str = ""
    token: str | None = None  # HTTP collector: the bearer token this source sends
    multiline_start: str | None = None  # file tail: a regex that starts a record; others continue it
    # The device, when its lines do not say (OEM firmware reads like its maker's): these set
    # observer.vendor / observer.product / observer.type over what the content suggests.
    vendor: str = Field(default="", max_length=64)
    product: str = Field(default="", max_length=64)
    type: str = Field(default="", pattern=r"^[a-z_]*$")

    @property
    def device(self) -> dict[str, str]:
        """The declared device facts, for the RawBatch header (empty when none is declared)."""
        return {k: v for k, v in (("vendor", self.vendor), ("product", self.product), ("type", self.type)) if v}

    @field_validator("peers")
    @classmethod
    def _networks(cls, peers: list[str]) -> list[str]:
        for peer in peers:
            ipaddress.ip_network(peer, strict=False)  # raises ValueError with the bad value
        return peers

    @field_validator("format")
    @classmethod
    def _format(cls, name: str) -> str:
        from collectors.parsers import MESSAGE_FORMATS, PARSERS

        known = {"", "syslog", *PARSERS, *MESSAGE_FORMATS}
        if name.lower() not in known:
            raise ValueError(f"unknown format {name!r}; known: {', '.join(sorted(known - {''}))}")
        return name.lower()

    @field_validator("multiline_start")
    @classmethod
    def _regex(cls, rx: str | None) -> str | None:
        if rx is not None:
            import re

            try:
                re.compile(rx)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return rx

    @field_validator("vendor")
    @classmethod
    def _vendor(cls, vendor: str) -> str:
        return vendor.strip().lower()  # as the parsers write observer.vendor: huawei, topsec...

    @field_validator("charset")
    @classmethod
    def _charset(cls, charset: str) -> str:
        import codecs

        try:
            codecs.lookup(charset)
        except LookupError:
            raise ValueError(f"unknown charset {charset!r} (utf-8, gbk, gb18030...)") from None
        return charset.lower()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, zone: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {zone!r} (e.g. Asia/Shanghai)") from None
        return zone


class SourcesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sources: list[Source] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Net:
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    source: Source


class Sources:
    """Look-ups over the declared sources; the most specific network wins."""

    def __init__(self, sources: list[Source]) -> None:
        self.sources = sources
        nets = [_Net(ipaddress.ip_network(p, strict=False), s) for s in sources for p in s.peers]
        self._nets = sorted(nets, key=lambda n: n.network.prefixlen, reverse=True)
        self._tokens = {s.token: s for s in sources if s.token}
        ids = [s.id for s in sources]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ConfigError(f"sources: duplicate source ids {sorted(dup)}")

    @lru_cache(maxsize=4096)  # noqa: B019 - a few thousand devices, looked up per record
    def for_peer(self, ip: str, default_prefix: str = "syslog") -> Source:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return Source(id=f"{default_prefix}:unknown")
        for net in self._nets:
            if addr.version == net.network.version and addr in net.network:
                return net.source
        return Source(id=f"{default_prefix}:{addr}")

    def for_path(self, path: str) -> Source:
        for source in self.sources:
            if any(fnmatch.fnmatch(path, g) for g in source.paths):
                return source
        return Source(id=f"file:{path}")

    def for_token(self, token: str) -> Source | None:
        return self._tokens.get(token)


def load_sources(path: Path | None) -> Sources:
    """Read a sources file; ConfigError naming the file, the entry and the key on a bad one."""
    if path is None:
        return Sources([])
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"sources file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"sources file {path} is not valid YAML: {exc}") from None
    try:
        parsed = SourcesFile.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = err["loc"]
            where = f"sources[{loc[1]}]" + "".join(f".{p}" for p in loc[2:]) if len(loc) > 1 else ".".join(map(str, loc))
            problems.append(f"{where}: {err['msg']} (got {err.get('input')!r})")
        raise ConfigError(f"sources file {path}:\n  " + "\n  ".join(problems)) from None
    try:
        return Sources(parsed.sources)
    except ConfigError as exc:
        raise ConfigError(f"sources file {path}: {exc}") from None
