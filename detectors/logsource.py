"""Which rules an event meets: Sigma logsources routed to events by data (pipelines/logsources.yml).

Rules and events meet through keys. A rule's key names the parts of its logsource that the
routes file knows, in the order category, product, service:

    category:firewall                       product:linux/service:sshd
    category:process_creation/product:windows
    category:process_creation/product:windows/service:sysmon    service:apache

An event's keys are every such combination that holds for it (the empty one aside), so a rule
with category, product and service meets only events for which all three hold. A rule meets an
event when they share a key; `keys_for_rule` returns None for a rule whose logsource is empty
or entirely unknown to the routes file: it meets every event.

Per event the index reads the dozen fields the routes test, reduces each value to the routes'
own vocabulary (a value no route names is just "present"), and looks the result up in a cache
of computed key sets: no per-rule work, and the cache stays as small as the vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml
from sigma.rule import SigmaLogSource

from detectors.pipelines import PIPELINES_DIR

__all__ = ["ROUTES_FILE", "LogsourceIndex"]

ROUTES_FILE = PIPELINES_DIR / "logsources.yml"

Doc = Mapping[str, Any]
Projection = tuple[frozenset[str], ...]

ANY = "*"  # in a route: the field is present, whatever its value
_PRESENT = frozenset({ANY})
_ABSENT: frozenset[str] = frozenset()
_CACHE_MAX = 65536
_TOP_KEYS = frozenset({"categories", "products", "services", "aliases"})


@dataclass(frozen=True, slots=True)
class _Alternative:
    """Every listed field has one of its accepted values (None in `accepts`: absent is fine)."""

    checks: tuple[tuple[int, frozenset[str | None]], ...]

    def holds(self, proj: Projection) -> bool:
        for index, accepts in self.checks:
            tokens = proj[index]
            if tokens:
                if tokens.isdisjoint(accepts):
                    return False
            elif None not in accepts:
                return False
        return True


Route = tuple[_Alternative, ...]


def _holds(route: Route, proj: Projection) -> bool:
    return any(alt.holds(proj) for alt in route)


def _compile_signature(fields: list[str], project: Callable[[int, Any], frozenset[str]],
                       named: list[dict[str, frozenset[str]]]) -> Callable[[Doc], Projection]:
    """One function that reads the fields (nested ECS objects) and projects their values, e.g.

        def signature(doc, E={}, A=frozenset(), P={"*"}, project=..., S0={...}, S1={...}):
            o1 = doc.get('event')
            if type(o1) is not dict: o1 = E
            x0 = o1.get('module')
            x1 = o1.get('category')
            return (A if x0 is None else S0.get(x0.lower(), P) if type(x0) is str else project(0, x0),
                    A if x1 is None else S1.get(x1.lower(), P) if type(x1) is str else project(1, x1))

    Each object on the way is read once for all its fields; a string (the usual value) is
    projected inline, anything else (lists, numbers) by `project`.
    """
    lines: list[str] = []
    objects: dict[tuple[str, ...], str] = {(): "doc"}

    def obj(path: tuple[str, ...]) -> str:
        if path not in objects:
            parent = obj(path[:-1])
            name = objects[path] = f"o{len(objects)}"
            lines.append(f"    {name} = {parent}.get({path[-1]!r})")
            lines.append(f"    if type({name}) is not dict: {name} = E")
        return objects[path]

    for index, field in enumerate(fields):
        parts = tuple(field.split("."))
        lines.append(f"    x{index} = {obj(parts[:-1])}.get({parts[-1]!r})")
    projected = ",\n        ".join(
        f"A if x{i} is None else S{i}.get(x{i}.lower(), P) if type(x{i}) is str else project({i}, x{i})"
        for i in range(len(fields))
    )
    params = ", ".join(["doc", *(f"{name}=None" for name in ["E", "A", "P", "project",
                                                                *(f"S{i}" for i in range(len(fields)))])])
    source = f"def signature({params}):\n" + "\n".join(lines) + f"\n    return ({projected},)\n"
    namespace: dict[str, Any] = {}
    # Field names enter the source only as repr() literals.
    exec(compile(source, "<logsource signature>", "exec"), namespace)
    fn = namespace["signature"]
    fn.__defaults__ = ({}, _ABSENT, _PRESENT, project, *named)
    return cast(Callable[[Doc], Projection], fn)


def _text(value: Any) -> str | None:
    if type(value) is str:
        return value.lower()
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return None


def _key(category: str | None, product: str | None, service: str | None) -> str:
    parts = []
    if category:
        parts.append(f"category:{category}")
    if product:
        parts.append(f"product:{product}")
    if service:
        parts.append(f"service:{service}")
    return "/".join(parts)


class _Builder:
    """Reads the routes file into alternatives over numbered fields."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.fields: dict[str, int] = {}
        self.vocab: list[set[str]] = []

    def error(self, what: str) -> ValueError:
        return ValueError(f"{self.where}: {what}")

    def route(self, spec: Any, name: str) -> Route:
        if spec is None:
            spec = []
        if not isinstance(spec, list):
            raise self.error(f"{name}: expected a list of alternatives, got {type(spec).__name__}")
        return tuple(self.alternative(alt, name) for alt in spec)

    def alternative(self, alt: Any, name: str) -> _Alternative:
        if not isinstance(alt, dict) or not alt:
            raise self.error(f"{name}: an alternative must map event fields to values, got {alt!r}")
        checks = []
        for field, wanted in alt.items():
            if not isinstance(field, str):
                raise self.error(f"{name}: field name {field!r} is not text")
            index = self.fields.setdefault(field, len(self.fields))
            if index == len(self.vocab):
                self.vocab.append(set())
            values = wanted if isinstance(wanted, list) else [wanted]
            accepts: set[str | None] = set()
            for value in values:
                if value is None:
                    accepts.add(None)
                    continue
                text = _text(value)
                if text is None:
                    raise self.error(f"{name}: {field}: value {value!r} is not text or a number")
                accepts.add(text)
                if text != ANY:
                    self.vocab[index].add(text)
            checks.append((index, frozenset(accepts)))
        return _Alternative(tuple(checks))


class LogsourceIndex:
    """Keys of rules (by their Sigma logsource) and of events (by their ECS fields)."""

    __slots__ = ("_aliases", "_cache", "_categories", "_lists", "_named", "_products", "_scoped",
                 "_signature", "_top_services")

    def __init__(self, builder: _Builder, categories: dict[str, Route], products: dict[str, Route],
                 scoped: dict[str, dict[str, Route]], top_services: dict[str, Route],
                 aliases: dict[str, dict[str, tuple[str, ...]]]) -> None:
        self._categories = categories
        self._products = products
        self._scoped = scoped
        self._top_services = top_services
        self._aliases = aliases
        ordered = [field for field, _index in sorted(builder.fields.items(), key=lambda kv: kv[1])]
        # Per field: a value the routes name (lowercase) -> its projection {value, "*"}; and the
        # projections of the list values met so far (as tuples).
        self._named = [{v: frozenset({v, ANY}) for v in builder.vocab[i]} for i in range(len(ordered))]
        self._lists: list[dict[tuple[Any, ...], frozenset[str]]] = [{} for _ in ordered]
        self._signature = _compile_signature(ordered, self._project, self._named)
        self._cache: dict[Projection, frozenset[str]] = {}

    @classmethod
    def build(cls, routes: Path | Mapping[str, Any] = ROUTES_FILE) -> LogsourceIndex:
        """An index from a routes file (or its parsed content). ValueError when it is malformed."""
        if isinstance(routes, Path):
            where = str(routes)
            try:
                data = yaml.safe_load(routes.read_text(encoding="utf-8"))
            except (OSError, yaml.YAMLError) as exc:
                raise ValueError(f"{where}: cannot read the logsource routes: {exc}") from exc
        else:
            where, data = "logsource routes", routes
        if not isinstance(data, Mapping):
            raise ValueError(f"{where}: expected a mapping with {sorted(_TOP_KEYS)}")
        unknown = set(data) - _TOP_KEYS
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)} (expected {sorted(_TOP_KEYS)})")
        b = _Builder(where)
        categories = {str(n).lower(): b.route(s, f"categories.{n}") for n, s in _items(b, data, "categories")}
        products: dict[str, Route] = {}
        scoped: dict[str, dict[str, Route]] = {}
        for name, spec in _items(b, data, "products"):
            pname = str(name).lower()
            if isinstance(spec, dict):
                extra = set(spec) - {"when", "services"}
                if extra:
                    raise b.error(f"products.{name}: unknown keys {sorted(extra)} (expected when, services)")
                products[pname] = b.route(spec.get("when"), f"products.{name}.when")
                scoped[pname] = {str(s).lower(): b.route(alts, f"products.{name}.services.{s}")
                                 for s, alts in _items(b, spec, "services", f"products.{name}.")}
            else:
                products[pname] = b.route(spec, f"products.{name}")
                scoped[pname] = {}
        top = {str(n).lower(): b.route(s, f"services.{n}") for n, s in _items(b, data, "services")}
        aliases: dict[str, dict[str, tuple[str, ...]]] = {"category": {}, "product": {}, "service": {}}
        for part, table in _items(b, data, "aliases"):
            if part not in aliases or not isinstance(table, dict):
                raise b.error(f"aliases.{part}: expected category, product or service with a mapping")
            for alias, targets in table.items():
                names = targets if isinstance(targets, list) else [targets]
                aliases[part][str(alias).lower()] = tuple(str(t).lower() for t in names)
        return cls(b, categories, products, scoped, top, aliases)

    # ------------------------------------------------------------------ rules
    def keys_for_rule(self, logsource: SigmaLogSource) -> frozenset[str] | None:
        """The keys of a rule's logsource; None: it meets every event (empty or unknown logsource).

        A part the routes do not know is left out (the rule is widened, never silenced); a known
        part whose route is empty ([]) keeps the rule from every event.
        """
        categories = self._known("category", logsource.category, self._categories)
        products = self._known("product", logsource.product, self._products)
        services: list[tuple[str | None, str]] = []  # (product, service)
        if logsource.service:
            names = self._names("service", logsource.service)
            for product in products or [None]:
                in_scope = self._scoped.get(product, {}) if product else self._all_scoped()
                services += [(product, s) for s in names if s in in_scope or s in self._top_services]
        if not categories and not products and not services:
            return None
        keys = set()
        for category in categories or [None]:
            if services:
                keys.update(_key(category, product, service) for product, service in services)
            else:
                keys.update(_key(category, product, None) for product in products or [None])
        return frozenset(keys)

    def _names(self, part: str, value: str) -> tuple[str, ...]:
        low = value.lower()
        return self._aliases[part].get(low, (low,))

    def _known(self, part: str, value: str | None, table: Mapping[str, Route]) -> list[str]:
        if not value:
            return []
        return [name for name in self._names(part, value) if name in table]

    def _all_scoped(self) -> set[str]:
        return {s for services in self._scoped.values() for s in services}

    # ------------------------------------------------------------------ events
    def keys_for_event(self, doc: Doc) -> frozenset[str]:
        """The keys of an event: every category/product/service combination that holds for it."""
        signature = self._signature(doc)
        keys = self._cache.get(signature)
        if keys is None:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            keys = self._cache[signature] = self._event_keys(signature)
        return keys

    def _project(self, index: int, value: Any) -> frozenset[str]:
        """A value that is not a string, in the routes' vocabulary: the values they name, and
        "present" (a list: those of its elements)."""
        named = self._named[index]
        if type(value) is not list:
            text = _text(value)
            return named.get(text, _PRESENT) if text is not None else _PRESENT
        if not value:
            return _ABSENT
        lists = self._lists[index]
        key = tuple(value)
        try:
            tokens = lists.get(key)
        except TypeError:  # objects in the list: not cached
            return frozenset([ANY, *(t for t in map(_text, value) if t in named)])
        if tokens is None:
            if len(lists) >= _CACHE_MAX:
                lists.clear()
            tokens = lists[key] = frozenset([ANY, *(t for t in map(_text, value) if t in named)])
        return tokens

    def _event_keys(self, proj: Projection) -> frozenset[str]:
        categories = [c for c, route in self._categories.items() if _holds(route, proj)]
        products = [p for p, route in self._products.items() if _holds(route, proj)]
        top = [s for s, route in self._top_services.items() if _holds(route, proj)]
        per_product = {
            p: [s for s, route in self._scoped[p].items() if _holds(route, proj)] + top for p in products
        }
        any_product = list(dict.fromkeys([s for p in products for s in per_product[p]] + top))
        keys = set()
        for category in [None, *categories]:
            for product in [None, *products]:
                services = per_product[product] if product else any_product
                for service in [None, *services]:
                    key = _key(category, product, service)
                    if key:
                        keys.add(key)
        return frozenset(keys)


def _items(b: _Builder, data: Mapping[str, Any], key: str, prefix: str = "") -> Iterable[tuple[Any, Any]]:
    section = data.get(key) or {}
    if not isinstance(section, dict):
        raise b.error(f"{prefix}{key}: expected a mapping")
    return section.items()
