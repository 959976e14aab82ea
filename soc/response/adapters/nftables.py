"""Blocks in a Linux host's nftables: a real nft set with per-element timeouts.

The table (`inet soc` by default) holds two sets with `flags interval, timeout` (addresses and
CIDR blocks, IPv4 and IPv6) and an input and a forward chain that drop what comes from them. An
element carries its own timeout, so the kernel lifts a block at its TTL even if the platform is
down; the enforcer lifts it too (and the store says why). Optionally inside a network namespace
(`ip netns exec`), which is how the tests run it.

Every change is one `nft -f -` transaction: re-blocking an address (a longer TTL) adds it, deletes
it and adds it again with the new timeout, atomically.
"""

from __future__ import annotations

import asyncio
import ipaddress
import shutil

from pydantic import BaseModel, ConfigDict, Field

from soc.response.adapters import AdapterError


class NftablesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "nftables"
    table: str = Field("soc", pattern=r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
    namespace: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")  # a network namespace, or the host
    priority: int = -10  # before the host's own filter chains


class NftablesAdapter:
    def __init__(self, config: NftablesConfig) -> None:
        self.config = config
        self.name = config.name
        self._ready = False

    def _set(self, target: str) -> str:
        return "blocklist6" if ipaddress.ip_network(target, strict=False).version == 6 else "blocklist4"

    async def _nft(self, script: str, check: bool = True) -> tuple[int, str]:
        nft = shutil.which("nft")
        if nft is None:
            raise AdapterError(f"{self.name}: the nft command is not installed (Debian package nftables)")
        argv = [nft, "-f", "-"]
        if self.config.namespace:
            argv = ["ip", "netns", "exec", self.config.namespace, *argv]
        proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.PIPE,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate(script.encode())
        text = (err or out).decode(errors="replace").strip()
        if check and proc.returncode != 0:
            where = f" in namespace {self.config.namespace}" if self.config.namespace else ""
            raise AdapterError(f"{self.name}: nft failed{where}: {text[:300]}")
        return proc.returncode or 0, text

    async def ensure(self) -> None:
        """Create the table, sets and chains unless they exist."""
        if self._ready:
            return
        t = self.config.table
        code, _ = await self._nft(f"list table inet {t}\n", check=False)
        if code != 0:
            p = self.config.priority
            await self._nft(
                f"table inet {t} {{\n"
                "  set blocklist4 { type ipv4_addr; flags interval, timeout; }\n"
                "  set blocklist6 { type ipv6_addr; flags interval, timeout; }\n"
                f"  chain input {{ type filter hook input priority {p}; policy accept;\n"
                "    ip saddr @blocklist4 drop\n    ip6 saddr @blocklist6 drop\n  }\n"
                f"  chain forward {{ type filter hook forward priority {p}; policy accept;\n"
                "    ip saddr @blocklist4 drop\n    ip6 saddr @blocklist6 drop\n  }\n"
                "}\n")
        self._ready = True

    async def block(self, target: str, ttl_s: int, scope: str) -> None:
        await self.ensure()
        s, t = self._set(target), self.config.table
        element = f"{{ {target} timeout {max(1, int(ttl_s))}s }}"
        await self._nft(f"add element inet {t} {s} {{ {target} }}\n"
                        f"delete element inet {t} {s} {{ {target} }}\n"
                        f"add element inet {t} {s} {element}\n")

    async def unblock(self, target: str, scope: str) -> None:
        await self.ensure()
        s, t = self._set(target), self.config.table
        # Present or not (the kernel may have lifted it at its timeout): add, then delete.
        await self._nft(f"add element inet {t} {s} {{ {target} timeout 1s }}\n"
                        f"delete element inet {t} {s} {{ {target} }}\n")

    async def elements(self) -> list[str]:
        """What the sets hold now (addresses and blocks), for checks and `soc block list`."""
        await self.ensure()
        out = []
        for s in ("blocklist4", "blocklist6"):
            _, text = await self._nft(f"list set inet {self.config.table} {s}\n")
            if "elements = {" in text:
                body = text.split("elements = {", 1)[1].split("}", 1)[0]
                out += [e.strip().split(" ")[0] for e in body.replace("\n", " ").split(",") if e.strip()]
        return out
