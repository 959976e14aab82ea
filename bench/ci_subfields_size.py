"""What the lowercased `.ci` sub-fields cost on disk: the same events indexed with the events
template as it is, and with every `.ci` sub-field taken out, each force-merged to one segment.

Needs the stack up. Usage: .venv/bin/python -m bench.ci_subfields_size [--copies 10]
"""

from __future__ import annotations

import argparse
import copy
import uuid
from typing import Any

from elasticsearch import helpers

from bench.sigma_parity import library_events
from soc.config import load_settings
from soc.store.client import sync_client
from soc.store.templates import CASE_FOLDED, index_templates


def without_folded(node: Any) -> Any:
    """The mapping with every `.ci` sub-field removed."""
    if isinstance(node, dict):
        out = {k: without_folded(v) for k, v in node.items() if k != CASE_FOLDED}
        if out.get("fields") == {}:
            del out["fields"]
        return out
    return node


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=10)
    args = ap.parse_args()
    s = load_settings()
    es = sync_client(s).options(request_timeout=600)
    template = index_templates("x", 1, 0)["x-events"]["template"]
    docs = library_events()
    sizes: dict[str, int] = {}
    for name, mappings in (("with .ci", template["mappings"]), ("without .ci", without_folded(template["mappings"]))):
        index = f"cisize-{uuid.uuid4().hex[:6]}"
        es.indices.create(index=index, settings=template["settings"], mappings=copy.deepcopy(mappings))
        try:
            helpers.bulk(es, ({"_index": index, "_id": f"{c}-{d['event']['id']}", "_source": d}
                              for c in range(args.copies) for d in docs), chunk_size=2000)
            es.indices.refresh(index=index)
            es.indices.forcemerge(index=index, max_num_segments=1)
            stats = es.indices.stats(index=index, metric="store,docs")["_all"]["primaries"]
            sizes[name] = stats["store"]["size_in_bytes"]
            count = stats["docs"]["count"]
        finally:
            es.indices.delete(index=index)
    print(f"### Index size with and without the `.ci` sub-fields, {count:,} events")
    print()
    print("| mapping | store (one segment) | bytes/event |")
    print("| --- | --- | --- |")
    for name, size in sizes.items():
        print(f"| {name} | {size / 2**20:.1f} MiB | {size / count:.0f} |")
    print()
    print(f"ratio with/without: {sizes['with .ci'] / sizes['without .ci']:.2f}")


if __name__ == "__main__":
    main()
