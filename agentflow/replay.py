"""Replaying a recorded run: its model turns as a ScriptedModel script, and where a replay parted from it.

A run record keeps every assistant turn (its text and stop reason) and every tool call the model made in it
(name, arguments whole, the SHA-256 of the result). That is a script: `script_turns` rebuilds it in the shape
`--model script:PATH` reads, and `--model replay:RUN_ID` replays it directly. What the record cannot give back
is named (`Export.missing`): a `file` input (the record keeps its path and size, not its text) and any value the
redactor masked. `divergences` compares a replay with its source call by call: a result whose hash differs is
a site that answered differently, a call the replay did not make is a place where it went another way.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import Any

import yaml

from agentflow.errors import ConfigError
from agentflow.redact import MASK
from agentflow.runs import RunRecord, ToolCallRecord

REPLAY = "replay:"


@dataclass
class Export:
    """A run as a script: `turns` in ScriptedModel's shape, `inputs` as recorded, and what a person must supply."""

    turns: list[dict[str, Any]]
    inputs: dict[str, Any]
    missing: list[str] = field(default_factory=list)


def export(record: RunRecord) -> Export:
    """The record's assistant turns and inputs; `missing` names each value the record does not hold whole.
    `ConfigError` for a run without model turns: there is nothing to replay."""
    if not record.turns:
        raise ConfigError(f"run {record.id} had no model turns (model {record.model}); there is nothing to replay")
    by_turn: dict[int, list[ToolCallRecord]] = {}
    for call in record.tool_calls:
        by_turn.setdefault(call.turn, []).append(call)
    missing: list[str] = []
    turns = []
    for turn in record.turns:
        content: list[dict[str, Any]] = [{"type": "text", "text": turn.text}] if turn.text else []
        for call in by_turn.get(turn.index, []):
            if MASK in json.dumps(call.arguments):
                missing.append(f"turn {turn.index}: a value of {call.tool}'s input was redacted")
            content.append({"type": "tool_use", "name": call.tool, "input": call.arguments})
        # A script turn needs a block; a turn that said and called nothing still happened, so it keeps its place.
        turns.append({"stop_reason": turn.stop_reason, "content": content or [{"type": "text", "text": "…"}]})
    inputs: dict[str, Any] = {}
    for name, value in record.inputs.items():
        if value is None:  # not given: the workflow's default applies again
            continue
        if isinstance(value, dict) and set(value) == {"file", "chars"}:  # a file input: its path, not its text
            inputs[name] = value["file"]
            missing.append(f"input {name}: the file {value['file']} ({value['chars']:,} characters) must be supplied")
        else:
            inputs[name] = value
            if MASK in json.dumps(value, default=str):
                missing.append(f"input {name}: its value was redacted")
    return Export(turns, inputs, missing)


def script_text(record: RunRecord, exported: Export) -> str:
    """The script file: a header saying where it came from and how to run it, then the turns as YAML."""
    typed = [f"{name}={shlex.quote(_typed(value))}" for name, value in exported.inputs.items()]
    if any("\n" in argument or "\r" in argument for argument in typed):  # a comment line cannot hold them
        typed = ["--input-file INPUTS (the run's inputs span lines: export them with --inputs)"]
    header = [
        f"# The model turns of run {record.id} ({record.workflow}, model {record.model}, {record.started_at}).",
        " ".join(["# agentflow run", record.workflow, *typed, "--model script:THIS_FILE"]),
        *(f"# To supply: {' '.join(item.split())}" for item in exported.missing),
    ]
    body = yaml.safe_dump(exported.turns, sort_keys=False, allow_unicode=True, width=120)
    return "\n".join(header) + "\n" + body


def _typed(value: Any) -> str:
    """An input as it is typed after `key=` (a list as comma-separated items)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, str | int | float) for item in value):
        return ",".join(map(str, value))
    return json.dumps(value, ensure_ascii=False)


def divergences(source: RunRecord, replayed: RunRecord) -> list[str]:
    """Where `replayed` parted from `source`, call by call in order (turn, then position in it), gather step by
    gather step; [] if nowhere. Results are compared by their stable hash: moments and generated ids aside."""
    found: list[str] = []
    if (source.site or "") != (replayed.site or ""):
        found.append(f"run {source.id} was on site {source.site or 'default'}, the replay on "
                     f"{replayed.site or 'default'}")  # fmt: skip
    before, after = _calls(source), _calls(replayed)
    for key, call in before.items():
        again = after.get(key)
        where = f"turn {key[0]}, {call.tool}"
        if again is None:
            found.append(f"{where}: not made in the replay")
        elif call.status != again.status:
            found.append(f"{where}: {again.status} where run {source.id}'s was {call.status}")
        elif _differs(call.stable_sha256, again.stable_sha256):
            found.append(f"{where}: the result differs from run {source.id}'s")
    for index, step in enumerate(replayed.steps):
        first = source.steps[index] if index < len(source.steps) else None
        if first is None or first.id != step.id:
            found.append(f"gather step {step.id}: not made in run {source.id} at this point")
        elif first.status != step.status:
            found.append(f"gather step {step.id}: {step.status} where run {source.id}'s was {first.status}")
        elif _differs(first.stable_sha256, step.stable_sha256):
            found.append(f"gather step {step.id}: the result differs from run {source.id}'s")
    return found


def _differs(before: str | None, after: str | None) -> bool:
    return bool(before and after and before != after)


def _calls(record: RunRecord) -> dict[tuple[int, int], ToolCallRecord]:
    positions: dict[int, int] = {}
    keyed = {}
    for call in record.tool_calls:
        position = positions.get(call.turn, 0)
        positions[call.turn] = position + 1
        keyed[(call.turn, position)] = call
    return keyed
