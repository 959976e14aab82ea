"""Alert → block applied: how long a playbook takes from an alert to the block being in force.

In one run, on the real Elasticsearch (the block store) and a real nftables set in a network
namespace made for it: N brute-force alerts from distinct sources (RFC 2544 benchmarking
addresses, 198.18.0.0/15) each go through the responder, which decides, writes the block
(refreshed at once, so the feed serves it when the call returns) and applies it on its devices.
Measured per alert from the call to its return, for the feed alone and for feed + nftables.

Needs root and the stack up. Usage: .venv/bin/python -m bench.response_latency [--alerts 200]
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from soc.config import load_settings
from soc.model import Alert
from soc.netns import NetLab
from soc.response.service import build
from soc.store.client import async_client
from soc.store.setup import ensure_templates

PLAYBOOK = """\
id: bench-block
name: bench
trigger: {{tags: [attack.t1110], min_level: high}}
steps:
  - action: block_ip
    ttl: 1h
    devices: [{devices}]
"""


def alert(source: str, n: int) -> dict:
    now = datetime.now(UTC)
    return Alert(rule_id="bench", rule_name="SSH 暴力破解", level="high", group_key=f"b|{source}", first_seen=now,
                 last_seen=now, event_ids=[f"e{n}"], count=5, tags=["attack.t1110.001"],
                 context={"source": {"ip": source}}).to_doc()


async def measure(devices: str, lab: NetLab, alerts: int, offset: int) -> list[float]:
    base = load_settings()
    folder = Path(tempfile.mkdtemp())
    (folder / "bench.yml").write_text(PLAYBOOK.format(devices=devices), encoding="utf-8")
    s = base.model_copy(update={
        "elastic": base.elastic.model_copy(update={"index_prefix": f"benchresp{uuid.uuid4().hex[:6]}"}),
        "response": base.response.model_copy(update={
            "playbooks_dir": folder, "nftables": {"namespace": lab.name}, "max_blocks_per_minute": 100_000}),
    })
    await ensure_templates(s)
    es = async_client(s)
    try:
        r = build(s, es)
        sources = [str(ipaddress.ip_address("198.18.0.1") + offset + i) for i in range(alerts)]
        await r.responder.handle(alert("198.19.255.254", -1))  # first use: the table, the index
        out = []
        for i, src in enumerate(sources):
            started = time.perf_counter()
            actions = await r.responder.handle(alert(src, i))
            out.append(time.perf_counter() - started)
            assert all(a["soc"]["action"]["state"] in ("applied", "approved") for a in actions), actions
        return out
    finally:
        await es.indices.delete(index=f"{s.elastic.index_prefix}-blocks", ignore_unavailable=True)
        await es.options(ignore_status=404).indices.delete_index_template(name=f"{s.elastic.index_prefix}-*")
        await es.close()


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100)[int(p) - 1] if len(values) >= 2 else values[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--alerts", type=int, default=200)
    args = ap.parse_args()
    lab = NetLab.create()
    try:
        feed = asyncio.run(measure("feed", lab, args.alerts, 0))
        both = asyncio.run(measure("feed, nftables", lab, args.alerts, 10_000))
    finally:
        lab.delete()
    print(f"### Alert → block applied ({args.alerts} alerts each, {datetime.now(UTC):%Y-%m-%d})")
    print()
    print("| devices | p50 | p99 | max |")
    print("| --- | --- | --- | --- |")
    for name, v in (("feed (the block store, refreshed)", feed), ("feed + nftables (netns)", both)):
        print(f"| {name} | {pct(v, 50) * 1000:.1f} ms | {pct(v, 99) * 1000:.1f} ms | {max(v) * 1000:.1f} ms |")
    print()
    print(f"nftables adds ×{pct(both, 50) / pct(feed, 50):.2f} at p50")


if __name__ == "__main__":
    main()
