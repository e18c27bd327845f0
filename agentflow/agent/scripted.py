"""`ScriptedModel`: replays assistant turns from a YAML script (`--model script:PATH`) instead of calling an API.

A script is a list of turns. A turn is a list of content blocks, or a mapping `{stop_reason, content}` to
script a stop reason such as `pause_turn`, `max_tokens` or `refusal`:

    - - {type: text, text: "Looking up the issue first."}
      - {type: tool_use, name: jira_get_issue, input: {key: DEMO-1}}
    - stop_reason: max_tokens
      content:
        - {type: text, text: "The summary is"}

Tool-use ids are generated (`toolu_script_1`, `toolu_script_2`, ... in script order) so a script never has to
invent them. The whole file is checked when it is loaded, and every mistake is a `ModelError("script")` that
names the file, line, turn and block; so is a run that asks for more turns than the script has. Token usage
is estimated from text lengths, so that summaries of scripted runs have (deterministic) numbers in them.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentflow.agent.models import Model, ToolSpec, Turn, Usage
from agentflow.errors import ModelError, Problem, ScriptUnreadable
from agentflow.workflow.source import SourceMap, YamlError, parse

STOP_REASONS = (
    "end_turn", "tool_use", "pause_turn", "max_tokens", "stop_sequence", "refusal", "model_context_window_exceeded",
)  # fmt: skip

# The keys each block type may have; anything else is most likely a typo (`inputs:`) that should not pass.
_BLOCK_KEYS = {"text": ("type", "text"), "tool_use": ("type", "name", "input")}
_TURN_KEYS = ("stop_reason", "content")

# Roughly four characters per token for English text and JSON: good enough for a summary's numbers.
_CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class ScriptedCall:
    """What the loop passed to one `turn()` call (copied, so later changes to the conversation do not show)."""

    system: str
    messages: list[dict[str, Any]]
    tools: list[ToolSpec]
    max_tokens: int


class ScriptedModel(Model):
    """Replays a script's turns, in order, one per `turn()` call."""

    def __init__(self, path: Path) -> None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ScriptUnreadable(f"cannot read the script {path}: {exc}") from None
        try:
            data, source = parse(text)
        except YamlError as exc:
            raise ScriptUnreadable(str(Problem(exc.message, path, exc.line))) from None
        self._start(_check_script(data, source, path), path, f"script:{path}")

    @classmethod
    def from_turns(cls, turns: list[Any], name: str = "script:<turns>") -> ScriptedModel:
        """A model over turns given as Python data (in the YAML file's shape), checked the same way."""
        model = cls.__new__(cls)
        model._start(_check_script(turns, SourceMap(), None), None, name)
        return model

    def _start(self, turns: list[_ScriptedTurn], path: Path | None, name: str) -> None:
        self.turns = turns
        self.path = path
        self.name = name
        self.calls: list[ScriptedCall] = []

    async def turn(
        self, *, system: str, messages: list[dict[str, Any]], tools: list[ToolSpec], max_tokens: int
    ) -> Turn:
        self.calls.append(ScriptedCall(system, copy.deepcopy(messages), list(tools), max_tokens))
        number = len(self.calls)
        if number > len(self.turns):
            where = f"the script {self.path}" if self.path else "the script"
            raise ModelError(
                "script",
                f"{where} has {len(self.turns)} turns and the run asked for turn {number}; "
                "add the missing turns (a script ends with a submit_result call, as a model's run does)",
            )
        scripted = self.turns[number - 1]
        prompt = json.dumps([system, messages, [tool.model_dump() for tool in tools]], sort_keys=True, default=str)
        answer = json.dumps(scripted.content, sort_keys=True)
        return Turn(
            content=copy.deepcopy(scripted.content),
            stop_reason=scripted.stop_reason,
            usage=Usage(input_tokens=_tokens(prompt), output_tokens=_tokens(answer)),
            model="script",
        )


@dataclass(frozen=True)
class _ScriptedTurn:
    content: list[dict[str, Any]]
    stop_reason: str


def _tokens(text: str) -> int:
    return max(1, len(text) // _CHARS_PER_TOKEN)


class _Checker:
    """Collects every mistake in a script, so that one run shows them all."""

    def __init__(self, source: SourceMap, path: Path | None) -> None:
        self.source = source
        self.path = path
        self.problems: list[Problem] = []
        self.tool_uses = 0

    def problem(self, loc: Sequence[str | int], message: str) -> None:
        self.problems.append(Problem(message, self.path, self.source.line_for(loc)))

    def turn(self, index: int, raw: Any) -> _ScriptedTurn | None:
        where = f"turn {index + 1}"
        loc: tuple[str | int, ...] = (index,)
        explicit_stop: str | None = None
        blocks = raw
        if isinstance(raw, dict):
            for key in raw:
                if key not in _TURN_KEYS:
                    self.problem((index, key), f"{where}: unknown key '{key}' (a turn has: {', '.join(_TURN_KEYS)})")
            explicit_stop = raw.get("stop_reason")
            if explicit_stop is not None and explicit_stop not in STOP_REASONS:
                self.problem(
                    (index, "stop_reason"),
                    f"{where}: unknown stop_reason {explicit_stop!r} (one of: {', '.join(STOP_REASONS)})",
                )
            if "content" not in raw:
                self.problem(loc, f"{where}: a turn written as a mapping needs 'content', a list of blocks")
                return None
            blocks = raw["content"]
            loc = (index, "content")
        if not isinstance(blocks, list):
            self.problem(
                loc, f"{where}: expected a list of content blocks (or a mapping with 'content'), got {_kind(blocks)}"
            )
            return None
        if not blocks:
            self.problem(loc, f"{where}: has no content blocks")
            return None
        content = [self.block(where, (*loc, number), number, raw_block) for number, raw_block in enumerate(blocks)]
        if any(block is None for block in content):
            return None
        checked = [block for block in content if block is not None]
        has_tool_use = any(block["type"] == "tool_use" for block in checked)
        return _ScriptedTurn(checked, explicit_stop or ("tool_use" if has_tool_use else "end_turn"))

    def block(self, turn: str, loc: tuple[str | int, ...], number: int, raw: Any) -> dict[str, Any] | None:
        where = f"{turn}, block {number + 1}"
        if not isinstance(raw, dict):
            self.problem(loc, f"{where}: expected a mapping such as {{type: text, text: ...}}, got {_kind(raw)}")
            return None
        kind = raw.get("type")
        if not isinstance(kind, str) or kind not in _BLOCK_KEYS:
            found = f"'type: {kind}'" if "type" in raw else "no 'type'"
            self.problem(loc, f"{where}: has {found}; a scripted block is 'type: text' or 'type: tool_use'")
            return None
        allowed = _BLOCK_KEYS[kind]
        ok = True
        for key in raw:
            if key not in allowed:
                self.problem((*loc, key), f"{where}: unknown key '{key}' (a {kind} block has: {', '.join(allowed)})")
                ok = False
        if kind == "text":
            if not isinstance(raw.get("text"), str) or not raw["text"]:
                self.problem(loc, f"{where}: a text block needs 'text', a non-empty string")
                return None
            return {"type": "text", "text": raw["text"]} if ok else None
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            self.problem(loc, f"{where}: a tool_use block needs 'name', the tool to call")
            ok = False
        arguments = raw.get("input", {})
        if not isinstance(arguments, dict):
            self.problem((*loc, "input"), f"{where}: 'input' must be a mapping of arguments, got {_kind(arguments)}")
            ok = False
        if not ok:
            return None
        self.tool_uses += 1
        return {"type": "tool_use", "id": f"toolu_script_{self.tool_uses}", "name": name, "input": arguments}


def _check_script(data: Any, source: SourceMap, path: Path | None) -> list[_ScriptedTurn]:
    checker = _Checker(source, path)
    turns: list[_ScriptedTurn | None] = []
    if isinstance(data, list) and data:
        turns = [checker.turn(index, raw) for index, raw in enumerate(data)]
    else:
        what = "is empty" if data is None or data == [] else f"is {_kind(data)}"
        checker.problem((), f"the script {what}; it must be a list of assistant turns")
    if checker.problems:
        label = f"the script {path}" if path else "the script"
        listing = "\n".join(str(problem) for problem in checker.problems)
        raise ModelError("script", f"{label} is malformed:\n{listing}")
    return [turn for turn in turns if turn is not None]


def _kind(value: Any) -> str:
    """How a YAML reader would name the value it wrote."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the text {value!r}"
    return f"{value!r}"
