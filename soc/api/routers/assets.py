"""The asset inventory (soc/assets.py), read-only: the systems of the caller's tenants."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, Query

from soc.api.accounts import Principal
from soc.api.security import Services, require, services
from soc.assets import Asset, AssetInventory, load_inventory
from soc.config import ConfigError

router = APIRouter(prefix="/api/v1/assets", tags=["assets"])
READERS = ("analyst", "officer", "sysadmin")


@lru_cache(maxsize=4)
def _read(path: Path, mtime_ns: int) -> AssetInventory:
    return load_inventory(path)  # read again only when the file changed


def inventory(path: Path | None) -> AssetInventory:
    if path is None:
        return load_inventory(None)
    try:
        return _read(path, path.stat().st_mtime_ns)
    except FileNotFoundError:
        raise ConfigError(f"asset inventory {path} does not exist") from None


@router.get("", response_model=list[Asset],
            responses={503: {"description": "the configured inventory file is missing or invalid"}})
async def list_assets(mlps_level: int | None = Query(None, ge=1, le=4, description="等级保护 level as filed"),
                      q: str | None = Query(None, max_length=100, description="a part of the name"),
                      who: Principal = Depends(require(*READERS)), svc: Services = Depends(services)) -> list[Asset]:
    """The protected systems whose tenant is one of the caller's (every one for `*`); none if no
    inventory is configured (assets_file)."""
    try:
        assets = inventory(svc.settings.assets_file).assets
    except ConfigError as exc:
        raise HTTPException(503, f"资产清单不可用 (asset inventory unavailable): {exc}") from None
    needle = q.casefold() if q else None
    return [a for a in assets if who.sees(a.tenant or None)
            and (mlps_level is None or a.mlps_level == mlps_level)
            and (needle is None or needle in a.name.casefold())]
