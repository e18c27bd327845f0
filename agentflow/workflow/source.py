"""YAML documents that remember where each value came from.

PyYAML's plain `safe_load` forgets line numbers and silently keeps the last of two duplicate keys. Workflow
errors must point at a line (`workflows/x.yaml:12: ...`) and a duplicated key is a mistake, so we compose
the node tree ourselves and record, for every path into the document, the line it starts on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agentflow.errors import Problem, ProblemsError

Loc = tuple[str | int, ...]


def dotted(loc: Sequence[str | int]) -> str:
    """A path as a user writes it: `steps[0].args.key`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class YamlError(ValueError):
    """The text is not a YAML mapping we can read; `line` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass
class SourceMap:
    """Lines (1-based) of every key and list item in a parsed document, by path."""

    lines: dict[Loc, int] = field(default_factory=dict)
    text_lines: dict[Loc, int] = field(default_factory=dict)

    def line_for(self, loc: Sequence[str | int]) -> int | None:
        """The line of `loc`, or of its nearest ancestor that has one (a missing key's parent)."""
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get(())

    def text_line_for(self, loc: Sequence[str | int]) -> int | None:
        """The line where the text of a string value begins: for `key: |` blocks, the line after the key."""
        return self.text_lines.get(tuple(loc)) or self.line_for(loc)


MAX_CHARS = 1024 * 1024  # a workflow, a script of model turns or an inputs file is far smaller
MAX_VALUES = 100_000  # values after aliases are expanded: an alias bomb ("billion laughs") stops here
MAX_DEPTH = 64  # levels of nesting


def read_mapping(
    path: Path, what: str, shape: str, error: type[ProblemsError] = ProblemsError
) -> tuple[dict[str, Any], SourceMap]:
    """A YAML file that must hold a mapping (a workflow, a suite): its data and lines. `error` (a
    `ProblemsError` kind) names the file and line when it cannot be read, parsed, or is not a mapping; `shape`
    says what it should look like."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error([Problem(f"cannot read the {what}: {getattr(exc, 'strerror', None) or exc}", path)]) from None
    try:
        data, lines = parse(text)
    except YamlError as exc:
        raise error([Problem(exc.message, path, exc.line)]) from None
    if not isinstance(data, dict):
        raise error([Problem(f"a {what} must be a YAML mapping ({shape})", path, 1)])
    return data, lines


def parse(text: str) -> tuple[Any, SourceMap]:
    """Parse one YAML document into plain Python data plus the line of every path in it. `YamlError` for
    text over `MAX_CHARS`, more than `MAX_VALUES` values once aliases are expanded, or nesting deeper than
    `MAX_DEPTH`: each refused at once, never a minute of CPU, gigabytes of memory or a `RecursionError`."""
    if len(text) > MAX_CHARS:
        raise YamlError(f"the file is {len(text):,} characters; at most {MAX_CHARS:,} are read")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        raise YamlError(f"the document nests deeper than {MAX_DEPTH} levels") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        raise YamlError(f"YAML syntax error: {problem}", mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"YAML syntax error: {exc}") from None
    source = SourceMap()
    if node is None:
        return None, source
    builder = _Builder(source)
    try:
        return builder.build(node, ()), source
    except YamlError:
        raise
    except yaml.MarkedYAMLError as exc:  # a tag it does not know (`!!python/object`), a merge of a non-mapping
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        raise YamlError(f"YAML value error: {problem}", mark.line + 1 if mark else None) from None
    except (yaml.YAMLError, ValueError, TypeError, AttributeError, RecursionError) as exc:
        # `!!int abc`, `!!timestamp notatime`, an integer of thousands of digits: PyYAML's own errors
        raise YamlError(f"YAML value error: {exc}", builder.line) from None


class _Builder:
    def __init__(self, source: SourceMap) -> None:
        self.source = source
        # SafeConstructor knows YAML's scalar typing rules (ints, bools, nulls, timestamps); reuse it.
        self.constructor = yaml.SafeLoader("")
        self.values = 0
        self.line: int | None = None

    def build(self, node: yaml.Node, loc: Loc) -> Any:
        self.values += 1
        if self.values > MAX_VALUES:
            raise YamlError(f"the document holds more than {MAX_VALUES:,} values (aliases nested in aliases?)")
        if len(loc) > MAX_DEPTH:
            raise YamlError(f"the document nests deeper than {MAX_DEPTH} levels", node.start_mark.line + 1)
        self.line = node.start_mark.line + 1
        self.source.lines.setdefault(loc, self.line)
        if isinstance(node, yaml.MappingNode):
            self.constructor.flatten_mapping(node)  # resolve `<<: *anchor` merges
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.constructor.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                if not isinstance(key, str | int | bool | float):
                    raise YamlError(f"unsupported key {key!r}: keys must be plain text", line)
                if key in result:
                    first = self.source.lines.get((*loc, key))
                    raise YamlError(f"duplicate key '{key}' (first defined on line {first})", line)
                self.source.lines[(*loc, key)] = line
                result[key] = self.build(value_node, (*loc, key))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*loc, index)) for index, item in enumerate(node.value)]
        if isinstance(node, yaml.ScalarNode):
            block = node.style in ("|", ">")
            self.source.text_lines[loc] = node.start_mark.line + (2 if block else 1)
        return self.constructor.construct_object(node, deep=True)
