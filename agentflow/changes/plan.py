"""Staged writes: inside the agent loop, a write tool call becomes an entry of the run's change plan instead
of a request to Atlassian.

The model never writes. It gets back a result saying the change is staged, with a placeholder (`$1`, `$2`,
...) for what the change would create, which later staged calls may pass as a whole argument value (e.g.
`link_to_epic(issue="$3", epic="PROD-100")`). A call is refused, with a reason the model can read, when the
workflow stages nothing (`writes: none`), when the input does not match the tool's schema, when the tool's
`writes.limits` is reached, or when it names a placeholder no earlier change made.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel

from agentflow.atlassian import catalog
from agentflow.workflow.schema import WritesSpec

PLACEHOLDER = re.compile(r"^\$(\d+)$")
PREVIEW_FIELDS = ("description", "body")
# What apply reports for a change the hourly budget had no room for: not started (each write reserves all
# its requests before it begins), and the changes after it not tried; applying again later goes on from there.
DEFERRED = "deferred"


class Applied(BaseModel):
    """What apply did with one change, for the person watching and the run record: `state` is `applied`,
    `failed` or `deferred` (the hourly budget had no room: not started)."""

    index: int
    tool: str
    summary: str
    state: str
    detail: str = ""
    verified: bool | None = None  # read back after it was made: as asked (True), not (False: `detail` says how)


class Change(BaseModel):
    """One staged write, as the person approving it reads it."""

    index: int
    tool: str
    server: str
    arguments: dict[str, Any]
    target: str = ""
    summary: str = ""
    preview: str = ""
    turn: int = 0

    @property
    def placeholder(self) -> str:
        return f"${self.index}"

    def depends_on(self) -> list[int]:
        return sorted({int(m.group(1)) for value in _values(self.arguments) if (m := PLACEHOLDER.match(value))})


def _values(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [v for item in value.values() for v in _values(item)]
    if isinstance(value, list):
        return [v for item in value for v in _values(item)]
    return []


def describe(tool: str, arguments: dict[str, Any]) -> tuple[str, str]:
    """(target, summary) of a write, in the words a reviewer expects: from the tool's metadata in the catalog
    (`atlassian.catalog.WRITES`), else the first text argument and the arguments themselves."""
    meta = catalog.WRITES.get(tool)
    if meta is None:
        first = next((str(v) for v in arguments.values() if isinstance(v, str)), "")
        return first[:60], json.dumps(arguments, ensure_ascii=False)[:120]
    values = _Filled(arguments, meta.excerpt)
    summary = meta.summary.format_map(values) if meta.summary else _update_summary(arguments)
    return meta.target.format_map(values), summary


class _Filled(dict[str, str]):
    """Arguments as a template shows them: whole, but the `excerpt` argument by its first line; `?` for one
    not given."""

    def __init__(self, arguments: dict[str, Any], excerpt: str | None) -> None:
        super().__init__({name: _first_line(v) if name == excerpt else str(v) for name, v in arguments.items()})

    def __missing__(self, name: str) -> str:
        return "?"


def _update_summary(arguments: dict[str, Any]) -> str:
    verbs = {"add_labels": "add labels", "remove_labels": "remove labels", "labels": "set labels"}
    parts = [
        f"{verbs[name]} {', '.join(map(str, value))}" if name in verbs and isinstance(value, list) else f"change {name}"
        for name, value in arguments.items()
        if name != "key"
    ]
    return "; ".join(parts) or "no change"


def _first_line(text: Any) -> str:
    line = str(text).strip().splitlines()[0] if str(text).strip() else ""
    return line[:100]


class Staged(BaseModel):
    """What staging a call gave: the change, or why it was refused."""

    change: Change | None = None
    refusal: str | None = None

    def message(self) -> str:
        if self.change is None:
            return f"Refused: {self.refusal}"
        change = self.change
        return (
            f"Staged as change {change.placeholder} ({change.summary}). Nothing is written until a person approves "
            f"the change plan. To refer to what this change will create in a later write, pass "
            f'"{change.placeholder}" as the whole argument value.'
        )


class Stager:
    """The run's change plan as it grows, and the rules each staged call must pass."""

    def __init__(self, writes: WritesSpec) -> None:
        self.writes = writes
        self.plan: list[Change] = []
        self.counts: dict[str, int] = {}

    def stage(
        self, tool: str, server: str, input_schema: dict[str, Any], arguments: dict[str, Any], turn: int = 0
    ) -> Staged:
        if self.writes.mode == "none":
            return Staged(refusal="this workflow makes no changes (writes: none); describe the change in your answer")
        from jsonschema import Draft202012Validator  # only a run whose model stages a write needs it

        errors = sorted(Draft202012Validator(input_schema).iter_errors(arguments), key=lambda e: list(e.path))
        if errors:
            problems = "; ".join(f"{'/'.join(map(str, e.path)) or '(input)'}: {e.message}" for e in errors[:5])
            return Staged(refusal=f"the input of {tool} is invalid: {problems}")
        limit = self.writes.limits.get(tool)
        if limit is not None and self.counts.get(tool, 0) >= limit:
            return Staged(refusal=f"the workflow allows at most {limit} {tool} changes per run, all already staged")
        index = len(self.plan) + 1
        target, summary = describe(tool, arguments)
        change = Change(
            index=index,
            tool=tool,
            server=server,
            arguments=arguments,
            target=target,
            summary=summary,
            preview="\n\n".join(str(arguments[f]) for f in PREVIEW_FIELDS if arguments.get(f)),
            turn=turn,
        )
        unknown = [n for n in change.depends_on() if not 1 <= n < index]
        if unknown:
            return Staged(refusal=f"${unknown[0]} is not a change staged before this one (there are {index - 1})")
        self.plan.append(change)
        self.counts[tool] = self.counts.get(tool, 0) + 1
        return Staged(change=change)


def change_numbers(text: str) -> set[int]:
    """The changes `1,3` (or `$1, $3`) names; `ValueError` when a part is not a number."""
    return {int(part.strip().lstrip("$")) for part in text.split(",") if part.strip()}


# Arguments that say which object a change is about, not what it does to it.
_SUBJECT_ARGUMENTS = frozenset({"key", "issue"})


def applies_unasked(change: Change, writes: WritesSpec) -> bool:
    """Whether the workflow's policy applies this change without a person: `writes: auto` (all of them), or a
    tool listed in `writes.auto` whose every argument is one of the allowed ones, with allowed values only."""
    if writes.mode == "auto":
        return True
    allowed = writes.auto.get(change.tool)
    if not allowed:
        return False
    for name, value in change.arguments.items():
        if name in _SUBJECT_ARGUMENTS:
            continue
        permitted = allowed.get(name)
        values = value if isinstance(value, list) else [value]
        if permitted is None or any(v not in permitted for v in values):
            return False
    return True
