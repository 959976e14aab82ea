"""GeoIP: where a public address is and which autonomous system announces it, from local files.

Optional. The platform runs without internet access, so nothing is ever downloaded: operators
copy MaxMind-format (.mmdb) files onto the machine and name them in `geoip_databases`
(docs/operations.md). Any mix of these is accepted, told apart by the file's `database_type`:

- location: GeoLite2-City / GeoIP2-City, GeoLite2-Country / GeoIP2-Country, GeoIP2-Enterprise,
  and DB-IP's City/Country Lite files, which share the format;
- network: GeoLite2-ASN, GeoIP2-ISP (and Enterprise, which holds both), DB-IP's ASN Lite.

For `source.ip`, `destination.ip`, `client.ip` and `server.ip`, when the address is public, the
normalize stage sets the ECS fields
`<side>.geo.{continent_name, country_iso_code, country_name, region_iso_code, region_name,
city_name, location{lat, lon}}` and `<side>.as.{number, organization.name}`.
Private, loopback, link-local, CGNAT (100.64.0.0/10), documentation, reserved and multicast
addresses are skipped: no database knows them, and the asset inventory describes ours.

Names are taken in Simplified Chinese (`zh-CN`) because the analysts' interface is Chinese
first, falling back to English (`en`) where the database has no Chinese name (GeoLite2 has them
for countries and large cities, not for many smaller ones, so a city may come in English beside
a Chinese country name). Codes (`country_iso_code`, `region_iso_code`) are never translated.
A field the device already reported (a firewall's own `srccountry`, say) is kept; only missing
ones are filled. When several files hold the same kind of data, the first listed that knows the
address wins: put a City file before a Country file.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import maxminddb

from soc.config import ConfigError, Settings
from soc.model import Doc, get_path

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

SIDES = ("source", "destination", "client", "server")
LANGUAGES = ("zh-CN", "en")  # the first a record has a name in wins
CACHE_SIZE = 65536

# database_type substrings (case-insensitive) and what such a file holds.
_LOCATION_TYPES = ("city", "country", "enterprise")
_NETWORK_TYPES = ("asn", "isp", "enterprise")


class _Database:
    """One open .mmdb file and what kind of data it holds."""

    __slots__ = ("path", "reader", "database_type", "ipv6", "location", "network")

    def __init__(self, path: Path) -> None:
        if path.is_dir():
            raise ConfigError(f"GeoIP database {path} is a directory, not an .mmdb file")
        try:
            reader = maxminddb.open_database(str(path))
        except FileNotFoundError:
            raise ConfigError(f"GeoIP database {path} does not exist") from None
        except PermissionError:
            raise ConfigError(f"GeoIP database {path} cannot be read (permission denied)") from None
        except (maxminddb.InvalidDatabaseError, ValueError, OSError) as exc:
            raise ConfigError(f"GeoIP database {path} is not a valid MaxMind DB (.mmdb) file: {exc}") from None
        meta = reader.metadata()
        kind = str(meta.database_type).lower()
        self.path = path
        self.reader = reader
        self.database_type = str(meta.database_type)
        self.ipv6 = meta.ip_version == 6
        self.location = any(t in kind for t in _LOCATION_TYPES)
        self.network = any(t in kind for t in _NETWORK_TYPES)
        if not (self.location or self.network):
            reader.close()
            raise ConfigError(
                f"GeoIP database {path} is of type {self.database_type!r}, which holds neither"
                " locations nor autonomous systems (expected a City, Country, ASN, ISP or"
                " Enterprise database)")

    def get(self, addr: Address) -> Mapping[str, Any] | None:
        if addr.version == 6 and not self.ipv6:
            return None  # an IPv4-only file raises on IPv6 look-ups
        try:
            record = self.reader.get(addr)
        except (ValueError, TypeError, maxminddb.InvalidDatabaseError):
            return None  # a damaged region of the file: no data rather than a lost event
        return record if isinstance(record, Mapping) else None


class GeoIP:
    """Look-ups in one or more local MaxMind-format databases; see the module docstring."""

    def __init__(self, databases: Sequence[_Database], languages: Sequence[str] = LANGUAGES) -> None:
        self.databases = list(databases)
        self.languages = tuple(languages)
        # Per instance (not a method-level lru_cache) so that a closed GeoIP frees its cache.
        self._cached: Callable[[str], tuple[dict[str, Any], dict[str, Any]] | None] = (
            lru_cache(maxsize=CACHE_SIZE)(self._lookup_uncached))

    @classmethod
    def open(cls, paths: Path | str | Iterable[Path | str], languages: Sequence[str] = LANGUAGES) -> GeoIP:
        """Open the files (a City and an ASN file, typically); ConfigError naming a bad one."""
        if isinstance(paths, (str, Path)):
            paths = [paths]
        opened: list[_Database] = []
        try:
            for p in paths:
                opened.append(_Database(Path(p)))
        except ConfigError:
            for db in opened:
                db.reader.close()
            raise
        if not opened:
            raise ConfigError("GeoIP: no database file given")
        return cls(opened, languages)

    def close(self) -> None:
        for db in self.databases:
            db.reader.close()
        self.cache_clear()

    def __enter__(self) -> GeoIP:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def cache_clear(self) -> None:
        self._cached.cache_clear()  # type: ignore[attr-defined]

    def cache_info(self) -> Any:
        """functools' hits/misses/maxsize/currsize of the per-address cache."""
        return self._cached.cache_info()  # type: ignore[attr-defined]

    def lookup(self, ip: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """(`geo` fields, `as` fields) for a public address found in a file, else None. Cached.

        Never raises: a malformed or non-public address, or one no file knows, gives None.
        The returned dicts are shared by the cache; `enrich` copies them into the document.
        """
        if not isinstance(ip, str):
            return None
        return self._cached(ip)

    def enrich(self, doc: Doc) -> None:
        """Set `<side>.geo.*` and `<side>.as.*` for each public side address, in place."""
        for side in SIDES:
            ip = get_path(doc, f"{side}.ip")
            if not isinstance(ip, str):
                continue
            found = self.lookup(ip)
            if found is None:
                continue
            geo, asn = found
            if geo:
                _fill(doc, side, "geo", geo)
            if asn:
                _fill(doc, side, "as", asn)

    def _lookup_uncached(self, ip: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        addr = public_address(ip)
        if addr is None:
            return None
        geo: dict[str, Any] = {}
        asn: dict[str, Any] = {}
        for db in self.databases:
            if (geo or not db.location) and (asn or not db.network):
                continue
            record = db.get(addr)
            if record is None:
                continue
            if db.location and not geo:
                geo = self._geo(record)
            if db.network and not asn:
                asn = _as(record)
        if not geo and not asn:
            return None
        return geo, asn

    def _name(self, entry: Any) -> str | None:
        names = entry.get("names") if isinstance(entry, Mapping) else None
        if not isinstance(names, Mapping):
            return None
        for lang in self.languages:
            name = names.get(lang)
            if isinstance(name, str) and name:
                return name
        return None

    def _geo(self, record: Mapping[str, Any]) -> dict[str, Any]:
        geo: dict[str, Any] = {}
        continent = record.get("continent")
        if (name := self._name(continent)) is not None:
            geo["continent_name"] = name
        country = record.get("country")
        country_iso = country.get("iso_code") if isinstance(country, Mapping) else None
        if isinstance(country_iso, str) and country_iso:
            geo["country_iso_code"] = country_iso
        if (name := self._name(country)) is not None:
            geo["country_name"] = name
        subdivisions = record.get("subdivisions")
        if isinstance(subdivisions, list) and subdivisions and isinstance(subdivisions[0], Mapping):
            region = subdivisions[0]  # the largest (province); ECS has one region level
            region_iso = region.get("iso_code")
            if isinstance(region_iso, str) and region_iso and isinstance(country_iso, str) and country_iso:
                geo["region_iso_code"] = f"{country_iso}-{region_iso}"  # as Elasticsearch's geoip processor
            if (name := self._name(region)) is not None:
                geo["region_name"] = name
        if (name := self._name(record.get("city"))) is not None:
            geo["city_name"] = name
        location = record.get("location")
        if isinstance(location, Mapping):
            lat, lon = location.get("latitude"), location.get("longitude")
            if isinstance(lat, (int, float)) and isinstance(lon, (int, float)):
                geo["location"] = {"lat": float(lat), "lon": float(lon)}
        return geo


def _as(record: Mapping[str, Any]) -> dict[str, Any]:
    """ASN and ISP files hold the fields at the top; Enterprise files under `traits`."""
    traits = record.get("traits")
    sources = [record, traits] if isinstance(traits, Mapping) else [record]
    out: dict[str, Any] = {}
    for src in sources:
        number = src.get("autonomous_system_number")
        org = src.get("autonomous_system_organization")
        if isinstance(number, int) and not isinstance(number, bool) and "number" not in out:
            out["number"] = number
        if isinstance(org, str) and org and "organization" not in out:
            out["organization"] = {"name": org}
    return out


def _fill(doc: Doc, side: str, key: str, values: Mapping[str, Any]) -> None:
    """Add the missing fields under doc[side][key]; fields already there are kept."""
    side_obj = doc.get(side)
    if not isinstance(side_obj, dict):
        return  # `<side>.ip` came as a flat dotted key: leave such a document alone
    target = side_obj.get(key)
    if not isinstance(target, dict):
        if target is not None:
            return  # something else than an object is there: not ours to replace
        target = side_obj[key] = {}
    for name, value in values.items():
        if name in target or f"{key}.{name}" in side_obj:
            continue
        target[name] = dict(value) if isinstance(value, Mapping) else value


def public_address(ip: str) -> Address | None:
    """The address if it is globally routable unicast, else None (also for a malformed one)."""
    try:
        addr: Address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.scope_id is not None:
            return None  # fe80::1%eth0 and the like
        if addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped  # ::ffff:1.2.3.4 is 1.2.3.4
        elif addr.is_site_local:
            return None  # fec0::/10, deprecated but not "private" to ipaddress
    if not addr.is_global or addr.is_multicast:
        return None  # is_global excludes private, loopback, link-local, reserved, 100.64.0.0/10
    return addr


def load_geoip(settings: Settings) -> GeoIP | None:
    """The configured databases (`geoip_databases`), or None when none is configured."""
    if not settings.geoip_databases:
        return None
    return GeoIP.open(settings.geoip_databases)
