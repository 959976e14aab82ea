"""pySigma's SQLite backend on the same rules and events (the approach of the Zircolite tool).

Runs in its own virtual environment, because pysigma-backend-sqlite 2.x needs pySigma 2 while
the platform is on pySigma 1.x (docs/dependencies.md): bench/detect_rules.py creates
`.venv-bench-sqlite` with `pip install pysigma-backend-sqlite` and calls this script with a
rules folder list and an NDJSON file of ECS events. It flattens the events into one in-memory
table (one column per dotted field, COLLATE NOCASE as Zircolite does), converts every rule to
SQL and runs each query over the table. Prints one JSON object with the figures.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any


def flatten(doc: dict[str, Any], prefix: str = "", out: dict[str, Any] | None = None) -> dict[str, Any]:
    out = {} if out is None else out
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flatten(value, f"{name}.", out)
        elif isinstance(value, list):
            out[name] = json.dumps(value, ensure_ascii=False) if any(isinstance(v, (dict, list)) for v in value) \
                else " ".join(str(v) for v in value)
        else:
            out[name] = value
    return out


def main() -> None:
    from sigma.backends.sqlite import sqliteBackend
    from sigma.collection import SigmaCollection

    events_file, *rule_paths = sys.argv[1:]
    docs = [flatten(json.loads(line)) for line in Path(events_file).read_text(encoding="utf-8").splitlines()]
    # SQLite column names ignore case: fields that differ only by case share a column.
    docs = [{k.lower(): v for k, v in d.items()} for d in docs]
    columns = sorted({k for d in docs for k in d})
    started = time.perf_counter()
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE logs (" + ", ".join(f'"{c}" COLLATE NOCASE' for c in columns) + ")")
    db.executemany(
        "INSERT INTO logs VALUES (" + ", ".join("?" for _ in columns) + ")",
        [[d.get(c) for c in columns] for d in docs],
    )
    loaded = time.perf_counter() - started
    collection = SigmaCollection.load_ruleset([Path(p) for p in rule_paths], collect_errors=True,
                                              on_beforeload=lambda p: None if p.name.endswith(".examples.yml") else p)
    backend = sqliteBackend()
    queries, failed = [], 0
    for rule in collection:
        try:
            queries.extend(backend.convert_rule(rule))
        except Exception:  # noqa: BLE001 - a rule the backend cannot convert
            failed += 1
    started = time.perf_counter()
    hits, errors = 0, 0
    for query in queries:
        try:
            hits += len(db.execute(query).fetchall())
        except sqlite3.Error:
            errors += 1  # a query on a field no event has: no such column
    ran = time.perf_counter() - started
    print(json.dumps({"events": len(docs), "rules": len(collection.rules), "queries": len(queries),
                      "not_converted": failed, "query_errors": errors, "hits": hits,
                      "load_s": loaded, "query_s": ran}))


if __name__ == "__main__":
    main()
