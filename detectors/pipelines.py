"""Field-mapping pipelines by name: pySigma processing pipelines written as YAML in pipelines/.

Every `*.yml` of the folder with a top-level `name` is a pySigma processing pipeline (the format
`ProcessingPipeline.from_yaml` reads). The files that share a name are one pipeline, applied in
the order of their `priority` (lowest first), then of their file names: `ecs` is made of
ecs_windows.yml, ecs_linux.yml, ecs_network.yml and ecs_web.yml. Other YAML files there (the
logsource routes) have no `name` and are not pipelines. Adding or changing a mapping touches no
Python.

A pipeline keeps per-rule state while it is applied: one loaded pipeline serves one thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError
from sigma.processing.pipeline import ProcessingPipeline
from sigma.rule import SigmaRule

__all__ = ["PIPELINES_DIR", "apply", "load_pipeline", "pipeline_names"]

# The project's pipelines/ folder (PROJECT_ROOT / "pipelines").
PIPELINES_DIR = Path(__file__).resolve().parent.parent / "pipelines"

Rule = TypeVar("Rule", SigmaRule, SigmaCorrelationRule)


def _pipeline_files(folder: Path) -> dict[str, list[tuple[int, str, Path, dict[str, Any]]]]:
    """name -> [(priority, file name, path, parsed YAML)] of the folder's pipeline files."""
    found: dict[str, list[tuple[int, str, Path, dict[str, Any]]]] = {}
    for path in sorted(folder.glob("*.yml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: not valid YAML: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            continue  # not a pipeline (e.g. logsources.yml)
        priority = data.get("priority", 0)
        found.setdefault(data["name"], []).append((int(priority), path.name, path, data))
    return found


def pipeline_names(folder: Path = PIPELINES_DIR) -> list[str]:
    """The names of the pipelines the folder defines."""
    return sorted(_pipeline_files(folder))


def load_pipeline(name: str, folder: Path = PIPELINES_DIR) -> ProcessingPipeline:
    """The pipeline `name`: its files merged by priority. ValueError for an unknown name."""
    files = _pipeline_files(folder)
    if name not in files:
        known = ", ".join(sorted(files)) or "none"
        raise ValueError(f"unknown pipeline {name!r} (known in {folder}: {known})")
    parts: list[ProcessingPipeline] = []
    for _priority, _file, path, data in sorted(files[name], key=lambda f: (f[0], f[1])):
        try:
            parts.append(ProcessingPipeline.from_dict(data))
        except SigmaError as exc:
            raise ValueError(f"{path}: not a valid processing pipeline: {exc}") from exc
    merged = parts[0] if len(parts) == 1 else sum(parts[1:], parts[0])
    merged.name = name
    merged.priority = parts[0].priority
    return merged


def apply(pipeline: ProcessingPipeline, rule: Rule) -> Rule:
    """Map the rule's field names (and values) in place, and return it.

    Apply once per rule, after loading and before compiling: pySigma parses the condition on
    access, so the compiled condition sees the mapped names. A correlation rule's group-by and
    aliases are mapped too when its rules' log source matches.
    """
    pipeline.apply(rule)
    return rule
