"""YAML files validated by pydantic models, with errors that name the file and the line.

An operator who edits a playbook or an allowlist must read "playbooks/x.yml:14: steps.1.ttl:
Field required", not a stack trace: `load_model` keeps the position of every YAML node and maps
each validation error's location back to the line it concerns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class FileError(ValueError):
    """A file that cannot be used, with one `path:line: problem` per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _line(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int:
    """The line (1-based) of the deepest node that `loc` reaches."""
    line = node.start_mark.line + 1 if node is not None else 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next(((k, v) for k, v in node.value if k.value == part), None)
            if nxt is None:
                continue  # a part that is no key (the tag of a union member): the next may be
            line, node = nxt[0].start_mark.line + 1, nxt[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def load_model(path: Path, model: type[M], text: str | None = None) -> M:
    """Parse and validate one YAML file; FileError naming each problem's line."""
    try:
        text = path.read_text(encoding="utf-8") if text is None else text
    except (OSError, UnicodeDecodeError) as exc:
        raise FileError([f"{path}: cannot be read: {exc}"]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data: Any = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise FileError([f"{where}: not valid YAML: {exc.problem or exc}"]) from None
    try:
        return model.model_validate({} if data is None else data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            field = ".".join(str(p) for p in loc) or "(the file)"
            problems.append(f"{path}:{_line(node, loc)}: {field}: {err['msg']}")
        raise FileError(problems) from None
