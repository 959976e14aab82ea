"""Dotted ECS names read from and written to nested documents (soc.model.get_path/set_path)."""

from __future__ import annotations

from soc import model
from soc.model import get_path, set_path


def test_a_written_field_is_read_back_nested_as_ecs_has_it() -> None:
    doc: dict = {"event": {"kind": "event"}}
    set_path(doc, "source.ip", "10.1.2.3")
    set_path(doc, "event.category", ["network"])
    assert doc == {"event": {"kind": "event", "category": ["network"]}, "source": {"ip": "10.1.2.3"}}
    assert get_path(doc, "source.ip") == "10.1.2.3"
    assert get_path(doc, "event.kind") == "event"


def test_missing_fields_and_non_objects_on_the_way_give_the_default() -> None:
    doc = {"source": {"ip": "10.1.2.3"}, "tags": ["a"], "user": None, "flat.name": 1}
    assert get_path(doc, "destination.ip") is None
    assert get_path(doc, "destination.ip", "-") == "-"
    assert get_path(doc, "source.ip.version", "-") == "-"  # a string on the way
    assert get_path(doc, "tags.0", "-") == "-"  # a list on the way
    assert get_path(doc, "user.name", "-") == "-"  # null on the way
    assert get_path(doc, "user", "-") is None  # a field that is null is null, not missing
    assert get_path(doc, "flat.name") == 1  # a flat dotted key, as some JSON sources send


def test_writing_under_a_non_object_replaces_it_with_an_object() -> None:
    doc = {"observer": "fw01"}
    set_path(doc, "observer.name", "fw01")
    assert doc == {"observer": {"name": "fw01"}}


def test_any_number_of_device_keys_is_read_and_written_and_the_cache_stays_bounded() -> None:
    names = [f"soc.device.k{i}" for i in range(model._PATHS_MAX + 500)]
    doc: dict = {}
    for i, name in enumerate(names):
        set_path(doc, name, i)
    assert all(get_path(doc, name) == i for i, name in enumerate(names))
    assert len(doc["soc"]["device"]) == len(names)
    assert len(model._PATHS) <= model._PATHS_MAX
