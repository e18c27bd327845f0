"""Run inputs: text from the command line (`key=value`), chat or config, coerced to their declared types.

Every value is checked against its input's type, `pattern` and `choices`; every problem is reported at
once, so a user fixes a command line in one go.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from agentflow.errors import InputInvalid, Problem
from agentflow.workflow.schema import JIRA_KEY_PATTERN, InputSpec, Workflow
from agentflow.workflow.templates import did_you_mean

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_VALUE_BYTES = 64 * 1024
MAX_VALUE_VAR = "AGENTFLOW_MAX_INPUT_BYTES"


def max_value_bytes() -> int:
    """The most bytes one typed-in input value may have: 64 KiB, or `$AGENTFLOW_MAX_INPUT_BYTES`. An alert or a
    key list is short; a megabyte of text is a paste gone wrong (or an attack) that would flood the queries,
    the record and the model."""
    configured = os.environ.get(MAX_VALUE_VAR, "")
    return int(configured) if configured.isdigit() and int(configured) > 0 else MAX_VALUE_BYTES


_TRUE = frozenset({"true", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "no", "n", "off", "0"})
_KEY_SEPARATORS = re.compile(r"[\s,;]+")


class FileInput(BaseModel):
    """A `file` input: templates read `.text`; `.path` says where it came from."""

    model_config = ConfigDict(frozen=True)

    path: str
    name: str
    text: str

    def __str__(self) -> str:
        return self.text


def coerce(spec: InputSpec, value: Any, base_dir: Path | None = None) -> Any:
    """The value of one input, typed; `ValueError` with a user-facing message when it does not fit.

    `value` is usually text, but typed values (YAML defaults, JSON from an API) are accepted too.
    Relative `file` paths resolve against `base_dir` (default: the working directory).
    """
    kind = spec.type
    if kind != "file" and not isinstance(value, FileInput):
        limit = max_value_bytes()
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        size = len(text.encode("utf-8", "replace"))
        if size > limit:
            raise ValueError(f"is {size:,} bytes; an input value may have {limit:,} ({MAX_VALUE_VAR} sets the limit)")
    if kind == "integer":
        result: Any = _integer(value)
    elif kind == "boolean":
        result = _boolean(value)
    elif kind == "file":
        result = _file(value, base_dir or Path.cwd())
    elif kind == "jira_key":
        result = _jira_key(value)
    elif kind == "jira_keys":
        result = _jira_keys(value)
    else:  # string, enum
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ValueError(f"expected text, got {type(value).__name__}")
        result = str(value)
    if kind == "enum" and result not in (spec.choices or []):
        raise ValueError(
            f"'{result}' is not one of {', '.join(spec.choices or [])}{did_you_mean(result, spec.choices or [])}"
        )
    if spec.pattern is not None:
        for item in result if isinstance(result, list) else [result]:
            if not re.fullmatch(spec.pattern, item):
                raise ValueError(f"'{item}' does not match the pattern {spec.pattern}")
    return result


def coerce_inputs(workflow: Workflow, raw: Mapping[str, Any], base_dir: Path | None = None) -> dict[str, Any]:
    """Every declared input, typed, with defaults filled in; `InputInvalid` listing every problem."""
    problems = []
    for name in raw:
        if name not in workflow.inputs:
            known = ", ".join(workflow.inputs) or "none"
            hint = did_you_mean(name, workflow.inputs)
            problems.append(Problem(f"{workflow.name}: unknown input '{name}'{hint} (inputs: {known})"))
    values: dict[str, Any] = {}
    for name, spec in workflow.inputs.items():
        if name not in raw or raw[name] is None:
            if spec.required:
                problems.append(Problem(f"{workflow.name}: missing required input '{name}' ({_describe(spec)})"))
            else:
                values[name] = spec.default
            continue
        try:
            values[name] = coerce(spec, raw[name], base_dir)
        except ValueError as exc:
            problems.append(Problem(f"{workflow.name}: input '{name}': {exc}"))
    if problems:
        raise InputInvalid(problems)
    return values


def _describe(spec: InputSpec) -> str:
    detail = spec.type if spec.type != "enum" else f"one of {', '.join(spec.choices or [])}"
    return f"{detail}: {spec.description}" if spec.description else detail


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected an integer, got {value}")
    if isinstance(value, int):
        return value
    text = str(value).strip().replace("_", "")
    if not re.fullmatch(r"[+-]?\d+", text):
        raise ValueError(f"'{value}' is not an integer")
    if len(text) > 30:
        raise ValueError(f"an integer of {len(text):,} digits is not a sensible value")
    return int(text)


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"'{value}' is not a boolean (use true or false)")


def _jira_key(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a Jira issue key such as PAY-429, got {type(value).__name__}")
    key = value.strip().upper()  # people type `pay-429`; Jira keys are upper case
    if not JIRA_KEY_PATTERN.match(key):
        raise ValueError(f"'{value}' is not a Jira issue key (expected something like PAY-429)")
    return key


def _jira_keys(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [k for k in _KEY_SEPARATORS.split(str(value)) if k]
    if not items:
        raise ValueError("expected one or more Jira issue keys, such as PAY-429,PAY-431")
    return list(dict.fromkeys(_jira_key(item) for item in items))


def _file(value: Any, base_dir: Path) -> FileInput:
    if isinstance(value, FileInput):  # text a chat user pasted, already wrapped by the trigger
        return value
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a file path")
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    if not path.is_file():
        raise ValueError(f"no such file: {value}")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ValueError(f"{value} is {size // 1024} KiB; the limit is {MAX_FILE_BYTES // 1024} KiB")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{value} is not UTF-8 text") from None
    except OSError as exc:
        raise ValueError(f"cannot read {value}: {exc.strerror}") from None
    return FileInput(path=str(path), name=path.name, text=text)
