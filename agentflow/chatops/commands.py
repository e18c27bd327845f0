"""What `/agentflow ...` asks for: `help`, `list`, `status RUN_ID`, `apply RUN_ID [1,3]`, or a workflow with its
inputs — `key=value` pairs, and free text that goes to the workflow's primary input (its first declared input):
`/agentflow incident Database connection pool exhausted`, `/agentflow bug-triage PAY-429 PAY-431`.
"""

from __future__ import annotations

import shlex
from typing import Any, Literal

from pydantic import BaseModel, Field

from agentflow.changes.plan import change_numbers
from agentflow.errors import ConfigError

USAGE = (
    "Usage: `/agentflow WORKFLOW [text] [key=value ...]`, e.g. `/agentflow incident DB connection pool exhausted` "
    "or `/agentflow bug-triage PAY-429 PAY-431`; also `/agentflow list`, `/agentflow status RUN_ID`, "
    "`/agentflow apply RUN_ID [1,3]` and `/agentflow help`."
)


class Command(BaseModel):
    kind: Literal["help", "list", "status", "apply", "run"]
    workflow: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    run_id: str | None = None
    only: set[int] | None = None


def parse(text: str) -> Command:
    """The command in `text`; `ConfigError` (shown to the user with the usage) when it cannot be read."""
    try:
        tokens = shlex.split(text.strip())
    except ValueError:  # an unpaired quote in free text ("payments can't reach the DB") is just text
        tokens = text.split()
    if not tokens or tokens[0].lower() in ("help", "-h", "--help"):
        return Command(kind="help")
    head, rest = tokens[0].lower(), tokens[1:]
    if head == "list":
        return Command(kind="list")
    if head == "status":
        if len(rest) != 1:
            raise ConfigError(f"status takes one run id. {USAGE}")
        return Command(kind="status", run_id=rest[0])
    if head == "apply":
        if not 1 <= len(rest) <= 2:
            raise ConfigError(f"apply takes a run id and optionally change numbers like 1,3. {USAGE}")
        return Command(kind="apply", run_id=rest[0], only=_numbers(rest[1]) if len(rest) == 2 else None)
    inputs: dict[str, str] = {}
    free: list[str] = []
    for token in rest:
        key, separator, value = token.partition("=")
        if separator and key.isidentifier():
            inputs[key] = value
        else:
            free.append(token)
    command = Command(kind="run", workflow=tokens[0], inputs=inputs)
    if free:
        command.inputs["__text__"] = " ".join(free)
    return command


def _numbers(text: str) -> set[int]:
    try:
        numbers = change_numbers(text)
    except ValueError:
        numbers = set()
    if not numbers or len(text) > 200:
        raise ConfigError(f"change numbers look like 1,3, not '{text[:40]}'")
    return numbers


def with_primary(inputs: dict[str, Any], declared: list[str]) -> dict[str, Any]:
    """Free text (under `__text__`) becomes the workflow's first declared input unless given by name."""
    values = dict(inputs)
    text = values.pop("__text__", None)
    if text is None:
        return values
    if not declared:
        raise ConfigError("this workflow takes no inputs, so the text after its name cannot be used")
    primary = declared[0]
    if primary in values:
        raise ConfigError(f"'{text}' has nowhere to go: {primary} is already given as {primary}=...")
    values[primary] = text
    return values
