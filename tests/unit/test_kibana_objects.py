"""The Kibana saved objects (dashboards/kibana/soc-saved-objects.ndjson): what a Kibana site relies on.

They must import: one saved object a line with id, type and attributes; ids unique; every JSON
string attribute (panelsJSON, searchSourceJSON, layerListJSON...) parseable; every reference
naming an object of the file of the type it says; every dashboard panel's panelRefName backed by
a reference. And they must show data: every field a lens layer, a saved search or a map uses is
mapped in the index template of the index its data view targets, as soc/store/setup.py really
puts the templates with the default prefix, with a type that aggregates where it is aggregated
(not text, not a `.ci` sub-field without doc values); and each data view's title is covered by
one of those templates' index patterns.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from soc.api.routers.events import NON_ROUTABLE
from soc.config import ElasticSettings
from soc.model import LEVEL_SEVERITY, AlertStatus
from soc.reporting import incidents
from soc.response import blocks
from soc.store.templates import index_templates

NDJSON = Path(__file__).resolve().parents[2] / "dashboards" / "kibana" / "soc-saved-objects.ndjson"

# What Kibana 8.x exports write: coreMigrationVersion is 8.8.0 since 8.8, and each type's
# typeMigrationVersion is one Kibana 8.19 knows (it migrates an older one on import and refuses
# a document newer than its own).
CORE_MIGRATION_VERSION = "8.8.0"
TYPE_VERSIONS = {
    "index-pattern": "8.0.0",
    "search": "10.5.0",
    "lens": "8.9.0",
    "map": "8.4.0",
    "dashboard": "10.2.0",
}
# Attributes of a data view that are JSON text (the others are plain values).
DATA_VIEW_JSON = ("fields", "fieldAttrs", "fieldFormatMap", "runtimeFieldMap", "sourceFilters", "typeMeta")
# Legacy visualizations keep these as JSON text too (the file uses Lens, but a legacy one must parse).
LEGACY_JSON = ("visState",)

# Elasticsearch field types that aggregate and sort (when doc_values is not switched off).
AGGREGATABLE = {"keyword", "ip", "date", "date_nanos", "boolean", "long", "integer", "short", "byte",
                "double", "float", "half_float", "scaled_float", "unsigned_long"}
GRID_COLUMNS = 48  # a dashboard's width in grid units

# Values the platform writes, for fields the objects filter on: a filter on any other value
# would show nothing.
KNOWN_VALUES = {
    "soc.alert.status": {s.value for s in AlertStatus},
    "soc.alert.severity": set(LEVEL_SEVERITY),
    "soc.block.state": {blocks.ACTIVE, blocks.PENDING, blocks.APPROVED, blocks.EXPIRED, blocks.REMOVING,
                        blocks.REMOVED, blocks.REJECTED},
    "soc.incident.status": set(incidents.STATUSES),
}


# --------------------------------------------------------------------------- the file


def _lines() -> list[str]:
    return NDJSON.read_text(encoding="utf-8").splitlines()


@cache
def _objects() -> tuple[dict[str, Any], ...]:
    return tuple(json.loads(line) for line in _lines())


def _by_key() -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["type"], o["id"]): o for o in _objects()}


def _of_type(type_: str) -> list[dict[str, Any]]:
    return [o for o in _objects() if o["type"] == type_]


def _is_json_key(type_: str, key: str) -> bool:
    return key.endswith("JSON") or key in LEGACY_JSON or (type_ == "index-pattern" and key in DATA_VIEW_JSON)


def _json_strings(obj: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(path, value) of every attribute that Kibana keeps as JSON text."""
    def walk(node: Any, path: str) -> Iterator[tuple[str, Any]]:
        if isinstance(node, dict):
            for key, value in node.items():
                if _is_json_key(obj["type"], key):
                    yield f"{path}.{key}", value
                else:
                    yield from walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for n, value in enumerate(node):
                yield from walk(value, f"{path}[{n}]")
    yield from walk(obj["attributes"], "attributes")


def _decoded(obj: dict[str, Any]) -> Any:
    """The attributes with every JSON text attribute parsed in place."""
    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: walk(json.loads(v) if _is_json_key(obj["type"], k) and isinstance(v, str) else v)
                    for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node
    return walk(obj["attributes"])


def _ref(obj: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((r for r in obj["references"] if r["name"] == name), None)


def _lens_layers(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return obj["attributes"]["state"]["datasourceStates"].get("formBased", {}).get("layers", {})


def _kql(node: Any) -> Iterator[str]:
    """Every KQL query anywhere in a (decoded) attribute tree."""
    if isinstance(node, dict):
        if node.get("language") == "kuery" and isinstance(node.get("query"), str):
            yield node["query"]
        for value in node.values():
            yield from _kql(value)
    elif isinstance(node, list):
        for value in node:
            yield from _kql(value)


QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
KQL_FIELD = re.compile(r"([A-Za-z_@][\w.@]*)\s*:")
KQL_TERM = re.compile(r'([A-Za-z_@][\w.@]*)\s*:\s*(\([^)]*\)|"(?:[^"\\]|\\.)*"|[^\s()]+)')


def _kql_fields(query: str) -> list[str]:
    return KQL_FIELD.findall(QUOTED.sub('""', query))


def _filter_fields(node: Any) -> Iterator[str]:
    """The fields of pinned filters (`filter` / `filters` lists of {meta: {key}})."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("filter", "filters") and isinstance(value, list):
                for f in value:
                    if isinstance(f, dict) and isinstance(f.get("meta"), dict) and f["meta"].get("key"):
                        yield f["meta"]["key"]
            yield from _filter_fields(value)
    elif isinstance(node, list):
        for value in node:
            yield from _filter_fields(value)


# --------------------------------------------------------------------------- the templates


@cache
def _templates() -> dict[str, dict[str, Any]]:
    """Template name -> body, as soc.store.setup.ensure_templates puts them with the default prefix
    (the same function builds them; no Elasticsearch is needed to read them)."""
    cfg = ElasticSettings()  # the defaults: prefix "soc"
    return index_templates(cfg.index_prefix, cfg.shards, cfg.replicas)


def _leaves(properties: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    for name, mapping in properties.items():
        path = f"{prefix}{name}"
        if "properties" in mapping:
            yield from _leaves(mapping["properties"], f"{path}.")
            continue
        yield path, mapping
        for sub, sub_mapping in mapping.get("fields", {}).items():
            yield f"{path}.{sub}", sub_mapping


def _templates_covering(title: str) -> list[str]:
    return sorted(name for name, body in _templates().items()
                  if any(fnmatch.fnmatchcase(part.strip(), pattern)
                         for part in title.split(",") for pattern in body["index_patterns"]))


@cache
def _fields(data_view_id: str) -> dict[str, dict[str, Any]]:
    """Field -> mapping of the index a data view targets (empty when no single template covers it)."""
    view = _by_key().get(("index-pattern", data_view_id))
    if view is None:
        return {}
    names = _templates_covering(view["attributes"]["title"])
    if len(names) != 1:
        return {}
    return dict(_leaves(_templates()[names[0]]["template"]["mappings"]["properties"]))


def _aggregatable(mapping: dict[str, Any]) -> bool:
    return mapping.get("type") in AGGREGATABLE and mapping.get("doc_values", True) is not False


def _searchable(mapping: dict[str, Any]) -> bool:
    return (mapping.get("index", True) is not False and mapping.get("enabled", True) is not False
            and mapping.get("type") not in ("object", "binary"))


def _field_uses(obj: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(data view id, field, need) for each field the object uses; need is one of
    aggregate, search, show, date, geo_point."""
    attrs = _decoded(obj)
    views: list[str] = []
    if obj["type"] == "index-pattern":
        if attrs.get("timeFieldName"):
            yield obj["id"], attrs["timeFieldName"], "date"
        return
    if obj["type"] == "lens":
        for layer_id, layer in _lens_layers(obj).items():
            ref = _ref(obj, f"indexpattern-datasource-layer-{layer_id}")
            if ref is None:
                continue  # test_data_sources_name_a_data_view says so
            views.append(ref["id"])
            for column in layer["columns"].values():
                field = column.get("sourceField")
                if field and field != "___records___":
                    yield ref["id"], field, "aggregate"
                    if column.get("operationType") == "date_histogram":
                        yield ref["id"], field, "date"
                sort_field = (column.get("params") or {}).get("sortField")
                if sort_field:
                    yield ref["id"], sort_field, "aggregate"
    elif obj["type"] == "search":
        source = attrs["kibanaSavedObjectMeta"]["searchSourceJSON"]
        ref = _ref(obj, source.get("indexRefName", ""))
        if ref is not None:
            views.append(ref["id"])
            for column in attrs.get("columns", []):
                if column != "_source":
                    yield ref["id"], column, "show"
            for sort in attrs.get("sort", []):
                yield ref["id"], sort[0] if isinstance(sort, list) else sort, "aggregate"
    elif obj["type"] == "map":
        for layer in attrs["layerListJSON"]:
            source = layer.get("sourceDescriptor") or {}
            ref = _ref(obj, source.get("indexPatternRefName", ""))
            if ref is None:
                continue
            views.append(ref["id"])
            for key in ("geoField", "sourceGeoField", "destGeoField"):
                if source.get(key):
                    yield ref["id"], source[key], "geo_point"
            for m in source.get("metrics", []):
                if m.get("field"):
                    yield ref["id"], m["field"], "aggregate"
            for field in source.get("tooltipProperties", []):
                yield ref["id"], field, "show"
            if source.get("sortField"):
                yield ref["id"], source["sortField"], "aggregate"
    elif obj["type"] == "dashboard":
        by_key = _by_key()
        for ref in obj["references"]:
            panel = by_key.get((ref["type"], ref["id"]))
            if panel is not None:
                views.extend(view for view, _, _ in _field_uses(panel))
    # KQL queries and pinned filters apply to every data view of the object.
    searched = [f for q in _kql(attrs) for f in _kql_fields(q)] + list(_filter_fields(attrs))
    for view in dict.fromkeys(views):
        for field in searched:
            yield view, field, "search"


# --------------------------------------------------------------------------- tests


def test_every_line_is_a_saved_object() -> None:
    lines = _lines()
    assert lines, f"{NDJSON} is empty"
    problems = []
    for n, line in enumerate(lines, 1):
        try:
            obj = json.loads(line)
        except ValueError as exc:
            problems.append(f"line {n}: not JSON: {exc}")
            continue
        if not isinstance(obj, dict):
            problems.append(f"line {n}: not a JSON object")
            continue
        where = f"line {n} ({obj.get('id')})"
        if not (isinstance(obj.get("id"), str) and obj["id"]):
            problems.append(f"{where}: no id")
        if obj.get("type") not in TYPE_VERSIONS:
            problems.append(f"{where}: type {obj.get('type')!r} is none of {sorted(TYPE_VERSIONS)}")
            continue
        if not isinstance(obj.get("attributes"), dict) or not obj["attributes"].get("title"):
            problems.append(f"{where}: no attributes with a title")
        refs = obj.get("references")
        if not isinstance(refs, list) or not all(
                isinstance(r, dict) and all(isinstance(r.get(k), str) and r[k] for k in ("id", "name", "type"))
                for r in refs):
            problems.append(f"{where}: references must be a list of {{id, name, type}}")
        if obj.get("coreMigrationVersion") != CORE_MIGRATION_VERSION:
            problems.append(f"{where}: coreMigrationVersion {obj.get('coreMigrationVersion')!r}")
        if obj.get("typeMigrationVersion") != TYPE_VERSIONS[obj["type"]]:
            problems.append(f"{where}: typeMigrationVersion {obj.get('typeMigrationVersion')!r} for a "
                            f"{obj['type']}, expected {TYPE_VERSIONS[obj['type']]}")
    assert not problems, "\n".join(problems)


def test_ids_are_unique() -> None:
    ids = [o["id"] for o in _objects()]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, f"ids used more than once: {duplicates}"


def test_json_text_attributes_parse() -> None:
    problems, seen = [], set()
    for obj in _objects():
        for path, value in _json_strings(obj):
            seen.add((obj["type"], path))
            if not isinstance(value, str):
                problems.append(f"{obj['id']}: {path} must be JSON text, is {type(value).__name__}")
                continue
            try:
                json.loads(value)
            except ValueError as exc:
                problems.append(f"{obj['id']}: {path} does not parse: {exc}")
    assert not problems, "\n".join(problems)
    # The ones Kibana cannot do without are there (and so were checked above).
    for type_, path in (("dashboard", "attributes.panelsJSON"),
                        ("search", "attributes.kibanaSavedObjectMeta.searchSourceJSON"),
                        ("map", "attributes.layerListJSON"), ("map", "attributes.mapStateJSON")):
        for obj in _of_type(type_):
            assert path in {p for p, _ in _json_strings(obj)}, f"{obj['id']} has no {path}"
    for obj in _of_type("lens"):
        assert isinstance(obj["attributes"].get("state"), dict), f"{obj['id']}: a lens keeps state as an object"
        assert obj["attributes"].get("visualizationType"), f"{obj['id']}: no visualizationType"


def test_references_resolve_to_objects_of_the_file() -> None:
    known = set(_by_key())
    problems = []
    for obj in _objects():
        names = [r["name"] for r in obj["references"]]
        if len(names) != len(set(names)):
            problems.append(f"{obj['id']}: reference names repeat: {names}")
        for ref in obj["references"]:
            if (ref["type"], ref["id"]) not in known:
                problems.append(f"{obj['id']}: reference {ref['name']} names {ref['type']} {ref['id']}, "
                                "which the file does not hold")
    assert not problems, "\n".join(problems)


def test_dashboard_panels_have_references() -> None:
    problems = []
    for dash in _of_type("dashboard"):
        panels = json.loads(dash["attributes"]["panelsJSON"])
        assert isinstance(panels, list) and panels, f"{dash['id']}: panelsJSON is no list of panels"
        indexes = [p.get("panelIndex") for p in panels]
        if len(indexes) != len(set(indexes)) or None in indexes:
            problems.append(f"{dash['id']}: panelIndex missing or repeated: {indexes}")
        used = set()
        for panel in panels:
            where = f"{dash['id']} panel {panel.get('panelIndex')}"
            name = panel.get("panelRefName")
            if not name:
                problems.append(f"{where}: no panelRefName")
                continue
            # Kibana looks for "<panelIndex>:<panelRefName>" (what 8.x exports write), then the bare name.
            ref = _ref(dash, f"{panel['panelIndex']}:{name}") or _ref(dash, name)
            if ref is None:
                problems.append(f"{where}: no reference named {panel['panelIndex']}:{name} or {name}")
                continue
            used.add(ref["name"])
            if ref["type"] != panel.get("type"):
                problems.append(f"{where}: panel type {panel.get('type')} but its reference is a {ref['type']}")
        for ref in dash["references"]:
            if re.search(r"(^|:)panel_", ref["name"]) and ref["name"] not in used:
                problems.append(f"{dash['id']}: reference {ref['name']} is no panel's")
        problems += _grid_problems(dash["id"], panels)
    assert not problems, "\n".join(problems)


def _grid_problems(dash_id: str, panels: list[dict[str, Any]]) -> list[str]:
    problems, cells = [], {}
    for panel in panels:
        g = panel.get("gridData") or {}
        x, y, w, h = (g.get(k) for k in ("x", "y", "w", "h"))
        if not all(isinstance(v, int) for v in (x, y, w, h)) or x < 0 or y < 0 or w < 1 or h < 1 \
                or x + w > GRID_COLUMNS or g.get("i") != panel.get("panelIndex"):
            problems.append(f"{dash_id} panel {panel.get('panelIndex')}: gridData {g} is off the "
                            f"{GRID_COLUMNS}-column grid or its i is not the panelIndex")
            continue
        for cx in range(x, x + w):
            for cy in range(y, y + h):
                other = cells.setdefault((cx, cy), panel["panelIndex"])
                if other != panel["panelIndex"]:
                    problems.append(f"{dash_id}: panels {other} and {panel['panelIndex']} overlap")
                    break
            else:
                continue
            break
    return problems


def test_data_sources_name_a_data_view() -> None:
    """Each lens layer, saved search and map layer names its data view through a reference."""
    problems = []
    for obj in _objects():
        names: list[str] = []
        if obj["type"] == "lens":
            layers = _lens_layers(obj)
            if not layers:
                problems.append(f"{obj['id']}: no formBased layer")
            names = [f"indexpattern-datasource-layer-{layer_id}" for layer_id in layers]
        elif obj["type"] == "search":
            source = json.loads(obj["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
            names = [source.get("indexRefName") or "(no indexRefName)"]
        elif obj["type"] == "map":
            names = [layer["sourceDescriptor"]["indexPatternRefName"]
                     for layer in json.loads(obj["attributes"]["layerListJSON"])
                     if "indexPatternRefName" in (layer.get("sourceDescriptor") or {})]
        for name in names:
            ref = _ref(obj, name)
            if ref is None or ref["type"] != "index-pattern":
                problems.append(f"{obj['id']}: no index-pattern reference named {name}")
    assert not problems, "\n".join(problems)


def test_lens_visualizations_use_their_columns() -> None:
    """A lens's chart points at columns its layer defines, and its layer at a layer that exists."""
    problems = []
    for obj in _of_type("lens"):
        layers = _lens_layers(obj)
        for layer_id, layer in layers.items():
            columns = set(layer["columns"])
            if set(layer.get("columnOrder", [])) != columns:
                problems.append(f"{obj['id']}: columnOrder {layer.get('columnOrder')} is not the columns {sorted(columns)}")
            for column_id, column in layer["columns"].items():
                order_by = (column.get("params") or {}).get("orderBy") or {}
                if order_by.get("type") == "column" and order_by.get("columnId") not in columns:
                    problems.append(f"{obj['id']}: column {column_id} is ordered by a missing column")
        for layer_id, accessor in _accessors(obj["attributes"]["state"]["visualization"]):
            if layer_id not in layers:
                problems.append(f"{obj['id']}: the visualization names layer {layer_id}, which does not exist")
            elif accessor is not None and accessor not in layers[layer_id]["columns"]:
                problems.append(f"{obj['id']}: the visualization uses column {accessor}, "
                                f"which layer {layer_id} does not define")
    assert not problems, "\n".join(problems)


def _accessors(visualization: dict[str, Any]) -> Iterator[tuple[str, str | None]]:
    """(layerId, column id or None) of what a Lens visualization state points at."""
    layers = visualization.get("layers") or [visualization]
    for layer in layers:
        layer_id = layer.get("layerId")
        yield layer_id, None
        for key, value in layer.items():
            if key.endswith("Accessor") and isinstance(value, str):
                yield layer_id, value
            elif key in ("accessors", "primaryGroups", "secondaryGroups", "metrics") and isinstance(value, list):
                yield from ((layer_id, v) for v in value if isinstance(v, str))
            elif key == "columns" and isinstance(value, list):
                yield from ((layer_id, c["columnId"]) for c in value)
            elif key == "sorting" and isinstance(value, dict) and value.get("columnId"):
                yield layer_id, value["columnId"]


def test_fields_are_mapped_with_a_type_that_fits() -> None:
    problems = []
    for obj in _objects():
        for view, field, need in _field_uses(obj):
            fields = _fields(view)
            if not fields:
                problems.append(f"{obj['id']}: data view {view} targets no single index template")
                continue
            mapping = fields.get(field)
            where = f"{obj['id']}: {field} ({need}) on {_by_key()[('index-pattern', view)]['attributes']['title']}"
            if mapping is None:
                problems.append(f"{where} is not mapped by the index template")
            elif need == "aggregate" and not _aggregatable(mapping):
                problems.append(f"{where} is {mapping.get('type')}"
                                f"{' without doc values' if mapping.get('doc_values') is False else ''}: "
                                "it does not aggregate or sort")
            elif need == "search" and not _searchable(mapping):
                problems.append(f"{where} is not indexed: it cannot be searched")
            elif need == "date" and mapping.get("type") not in ("date", "date_nanos"):
                problems.append(f"{where} is {mapping.get('type')}, not a date")
            elif need == "geo_point" and mapping.get("type") != "geo_point":
                problems.append(f"{where} is {mapping.get('type')}, not a geo_point")
    assert not problems, "\n".join(problems)


def test_filters_use_values_the_platform_writes() -> None:
    problems = []
    for obj in _objects():
        for query in _kql(_decoded(obj)):
            for field, rhs in KQL_TERM.findall(query):
                if field not in KNOWN_VALUES or rhs == "*":
                    continue
                values = [v.strip('"') for v in QUOTED.findall(rhs)] or [rhs]
                unknown = [v for v in values if v not in KNOWN_VALUES[field]]
                if unknown:
                    problems.append(f"{obj['id']}: {field} is never {unknown} "
                                    f"(it is one of {sorted(KNOWN_VALUES[field])})")
    assert not problems, "\n".join(problems)


def test_data_view_titles_are_indices_that_setup_creates() -> None:
    views = _of_type("index-pattern")
    assert views, "no data view"
    patterns = sorted(p for body in _templates().values() for p in body["index_patterns"])
    problems = []
    for view in views:
        covering = _templates_covering(view["attributes"]["title"])
        if len(covering) != 1:
            problems.append(f"{view['id']}: title {view['attributes']['title']!r} is covered by "
                            f"{covering or 'none'} of the index patterns setup creates ({patterns})")
    assert not problems, "\n".join(problems)
    prefix = ElasticSettings().index_prefix
    titles = {v["attributes"]["title"] for v in views}
    for title in (f"{prefix}-events-*", f"{prefix}-alerts", f"{prefix}-blocks", f"{prefix}-incidents"):
        assert title in titles, f"no data view titled {title}"
    events = next(v for v in views if v["attributes"]["title"] == f"{prefix}-events-*")
    assert events["attributes"].get("timeFieldName") == "@timestamp"


def test_the_web_ui_views_are_there() -> None:
    """The two dashboards; the triage queue as the web UI has it (alerts new or in_progress, newest
    first); top attacking sources leaving out what the web UI's overview never counts as external."""
    titles = {d["attributes"]["title"] for d in _of_type("dashboard")}
    assert {"态势总览", "告警研判"} <= titles, titles
    queue = _by_key()[("search", "soc-search-triage-queue")]
    query = json.loads(queue["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])["query"]["query"]
    statuses = {v for field, rhs in KQL_TERM.findall(query) if field == "soc.alert.status"
                for v in (s.strip('"') for s in QUOTED.findall(rhs))}
    assert statuses == {AlertStatus.NEW.value, AlertStatus.IN_PROGRESS.value}, query
    assert queue["attributes"]["sort"] == [["@timestamp", "desc"]]
    sources = _by_key()[("lens", "soc-lens-top-sources")]["attributes"]["state"]["query"]["query"]
    excluded = {v.strip('"') for field, rhs in KQL_TERM.findall(sources) if field == "source.ip"
                for v in QUOTED.findall(rhs)}
    assert excluded == set(NON_ROUTABLE), f"top sources leave out {sorted(excluded)}, the overview {NON_ROUTABLE}"
