"""Run records: one JSON file per run in the state directory, written when the run starts and when it ends.

A record says everything needed to trust or debug a run: workflow, inputs, actor, model, servers, the plan,
every gather step, turn and tool call (arguments, status, duration, requests), token usage and cost, the
terminal reason, the output and the report. Ids sort by time: `20261126-081502-incident-3f9a`.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentflow import config, processes, redact, statefiles
from agentflow.changes.plan import Applied, Change
from agentflow.errors import ConfigError, ServerTimeout, StateError


class TerminalReason(StrEnum):
    """Why a run ended; every value has its words in `report.REASONS`."""

    COMPLETED = "completed"
    MAX_TURNS = "max_turns"
    MAX_TOOL_CALLS = "max_tool_calls"
    MAX_TOKENS_TOTAL = "max_tokens_total"
    TIMEOUT = "timeout"
    BUDGET = "budget"  # the hourly rate budget or the run's own cap on Atlassian requests is spent
    INCOMPLETE = "incomplete"  # the model ran out of output tokens
    CONTEXT_EXCEEDED = "model_context_window_exceeded"
    REFUSED = "refused"
    NO_OUTPUT = "no_output"
    INVALID_OUTPUT = "invalid_output"
    MODEL_ERROR = "model_error"
    SERVER_ERROR = "server_error"
    STOPPED = "stopped"  # the model stopped for a reason agentflow does not know (the error says which)
    CANCELLED = "cancelled"
    DEFERRED = "deferred"  # not started: a batch run that did not fit in the budget, or a server needing a sign-in
    CONFIG_ERROR = "config_error"
    REPORT_ERROR = "report_error"  # the run completed, but its report template could not render the answer
    CRASHED = "crashed"


class CallStatus(StrEnum):
    """How one tool call ended (see `host.gate.GateOutcome`); `invalid` is a host tool's input that did not fit.
    The last three are calls that never returned: the server failed, its time box ran out, or the run was
    cancelled while the call was out (the record and the audit line say the same, by `status_for`)."""

    OK = "ok"
    ERROR = "error"
    STAGED = "staged"
    REFUSED = "refused"
    BUDGET = "budget"
    CACHED = "cached"
    INVALID = "invalid"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"


def status_for(error: BaseException) -> CallStatus:
    """The status of a call that raised `error` instead of returning."""
    if isinstance(error, ServerTimeout):
        return CallStatus.TIMEOUT
    if isinstance(error, asyncio.CancelledError | KeyboardInterrupt):
        return CallStatus.CANCELLED
    return CallStatus.FAILED


class Usage(BaseModel):
    """Tokens of one turn, or summed over a run."""

    model_config = ConfigDict(frozen=True)

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_input_tokens=self.cache_read_input_tokens + other.cache_read_input_tokens,
            cache_creation_input_tokens=self.cache_creation_input_tokens + other.cache_creation_input_tokens,
        )


class PlanStep(BaseModel):
    title: str
    status: str = "pending"  # pending | in_progress | done | skipped


class StepRecord(BaseModel):
    """A gather step (one per item with `foreach`)."""

    id: str
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    status: str = "ok"  # ok | error | skipped | failed | timeout | cancelled (a CallStatus of a call that raised)
    error: str | None = None
    requests: int = 0
    duration_ms: float = 0.0
    result_sha256: str | None = None  # of the step's whole result, as the gate's audit line has it
    stable_sha256: str | None = None  # the same with moments and generated ids masked: what a replay compares


class ToolCallRecord(BaseModel):
    turn: int
    id: str
    tool: str
    server: str | None = None
    arguments: dict[str, Any] = Field(default_factory=dict)
    # A status this version does not know (a newer record) is kept as written.
    status: CallStatus | str = Field(default=CallStatus.OK, union_mode="left_to_right")
    requests: int = 0
    duration_ms: float = 0.0
    preview: str = ""  # the start of the result; its whole text is hashed in `result_sha256`
    result_sha256: str | None = None  # SHA-256 of the whole result the server gave (scrubbed), as audited
    stable_sha256: str | None = None  # the same with moments and generated ids masked: what a replay compares


class TurnRecord(BaseModel):
    index: int
    stop_reason: str
    text: str = ""
    tool_calls: int = 0
    usage: Usage = Usage()
    duration_ms: float = 0.0


class RunRecord(BaseModel):
    id: str
    workflow: str
    workflow_path: str = ""
    inputs: dict[str, Any] = Field(default_factory=dict)
    actor: str = ""
    trigger: str = "cli"
    priority: str = "interactive"
    model: str = "none"
    site: str | None = None
    servers: list[str] = Field(default_factory=list)
    started_at: str
    finished_at: str | None = None
    duration_s: float | None = None
    status: str = "running"  # running | finished
    process: str | None = None  # `processes.this_process()` of the run: a record left running by a dead one is stale
    # A reason this version does not know (a newer record) is kept as written.
    terminal_reason: TerminalReason | str | None = Field(default=None, union_mode="left_to_right")
    error: str | None = None
    plan: list[PlanStep] = Field(default_factory=list)
    steps: list[StepRecord] = Field(default_factory=list)
    turns: list[TurnRecord] = Field(default_factory=list)
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    usage: Usage = Usage()
    cost_usd: float | None = None
    output: dict[str, Any] | None = None
    report: str | None = None
    changes: list[Change] = Field(default_factory=list)
    applied: list[Applied] = Field(default_factory=list)  # what `writes: auto` applied at the end of the run
    apply_started_at: str | None = None  # when the first write of an apply of this run was about to be made
    diverged: list[str] | None = None  # a replay (`--model replay:ID`): where it parted from that run; [] nowhere

    @property
    def succeeded(self) -> bool:
        return self.terminal_reason == TerminalReason.COMPLETED

    @property
    def abandoned(self) -> bool:
        """Still `running`, but its process is gone (killed, or its last record could not be written)."""
        return self.status == "running" and self.process is not None and not processes.alive(self.process)

    def requests(self) -> int:
        return sum(s.requests for s in self.steps) + sum(c.requests for c in self.tool_calls)


def runs_dir() -> Path:
    return config.state_dir() / "runs"


def now_iso(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).isoformat(timespec="seconds")


def new_run_id(workflow: str, moment: datetime | None = None) -> str:
    stamp = (moment or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{workflow}-{secrets.token_hex(3)}"


def scrubbed(record: RunRecord) -> dict[str, Any]:
    """The record as it may be shown or kept: every secret masked."""
    # A record quotes tool arguments, results and errors: any of them may carry a secret. The data is scrubbed,
    # not its JSON text, where escapes (a newline before a token becomes `\n`) would hide secrets from the patterns.
    return redact.default().data(record.model_dump(mode="json"))


def save(record: RunRecord) -> Path:
    """Write atomically (a reader never sees half a record), readable only by the user; `StateError` when the
    disk refuses (the previous version of the record is then still whole)."""
    text = json.dumps(scrubbed(record), indent=2, ensure_ascii=False)
    return statefiles.write_private(runs_dir() / f"{record.id}.json", text)


def load(run_id: str) -> RunRecord:
    """A record by id or unique id prefix (or `last`); `ConfigError` when there is none or it is ambiguous."""
    directory = _runs_dir_if_any()
    if run_id == "last":
        newest = max(directory.glob("*.json"), default=None) if directory.is_dir() else None
        if newest is None:
            raise ConfigError("no runs recorded yet")
        return _read(newest)  # an unreadable newest record is an error, never silently an older run
    matches = sorted(directory.glob(f"{run_id}*.json")) if directory.is_dir() else []
    if not matches:
        raise ConfigError(f"no run '{run_id}' in {directory}; `agentflow runs` lists them")
    if len(matches) > 1 and not any(m.stem == run_id for m in matches):
        listed = ", ".join(m.stem for m in matches[:5])
        raise ConfigError(f"'{run_id}' matches several runs: {listed}")
    exact = next((m for m in matches if m.stem == run_id), matches[0])
    return _read(exact)


def _runs_dir_if_any() -> Path:
    """The records' directory (it may not exist yet); `StateError` when something else is in its place."""
    directory = runs_dir()
    if directory.exists() and not directory.is_dir():
        raise StateError(f"{directory} is not a directory: agentflow keeps its run records there; move it aside")
    return directory


def _read(path: Path) -> RunRecord:
    try:
        return RunRecord.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        remedy = "move it aside or delete it; the run's audit lines in audit.log still tell what it did"
        raise statefiles.damaged(path, "run record", exc, remedy) from None


def list_runs(
    limit: int = 20,
    workflow: str | None = None,
    actor: str | None = None,
    trigger: str | None = None,
    on_unreadable: Callable[[StateError], None] = lambda error: None,
) -> list[RunRecord]:
    """The newest runs first, filtered; an unreadable record is handed to `on_unreadable` (to be reported)
    rather than failing the listing."""
    directory = _runs_dir_if_any()
    if not directory.is_dir():
        return []
    for partial in sorted(directory.glob("*.json.partial")):
        if not partial.with_suffix("").exists():  # killed while writing its first record: nowhere else to see it
            run_id = partial.name.removesuffix(".json.partial")
            on_unreadable(StateError(f"{partial} is the unfinished first record of run {run_id}, whose process "
                                     "ended while writing it; delete it"))  # fmt: skip
    found = []
    for path in sorted(directory.glob("*.json"), reverse=True):
        try:
            record = _read(path)
        except StateError as error:
            on_unreadable(error)
            continue
        if workflow and record.workflow != workflow:
            continue
        if actor and record.actor != actor:
            continue
        if trigger and record.trigger != trigger:
            continue
        found.append(record)
        if len(found) >= limit:
            break
    return found
