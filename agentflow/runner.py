"""The one entry point every trigger calls: `RunRequest` -> `RunResult`.

load the workflow and coerce its inputs -> build the run's state once (`Run`: config, site, servers, budget,
model, record) -> connect the servers it names and check their tools against their pins (`host.pins`) -> build
the tool catalogue from its allowlist -> run the gather steps -> (unless the model is `none`) run the plan/act
loop, every tool call through the gate -> render the report -> record the run. The CLI, the ChatOps server and
the scheduler never orchestrate a run themselves.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, NoReturn

from pydantic import BaseModel, Field

from agentflow import audit, processes, redact, replay, runs
from agentflow.agent.loop import Events, Limits, Loop, Outcome
from agentflow.agent.models import Model
from agentflow.atlassian.sites import SiteConfig, resolve_site
from agentflow.budget import Budget, open_budget
from agentflow.changes.apply import apply_plan, refuse_if_read_only
from agentflow.changes.plan import Applied, Stager, applies_unasked
from agentflow.changes.status import record_section
from agentflow.config import load_config
from agentflow.errors import (
    AgentflowError,
    ConfigError,
    Deferred,
    ModelError,
    ServerError,
    ServerStartError,
    StateError,
    WorkflowInvalid,
)
from agentflow.gather import Gatherer
from agentflow.host.gate import Gate
from agentflow.host.pins import PinLock
from agentflow.host.servers import Host
from agentflow.host.specs import ServerSpec, load_server_specs
from agentflow.host.toolbox import build_toolbox
from agentflow.metering import Metering, uses_bundled
from agentflow.runs import CallStatus, TerminalReason
from agentflow.workflow import loader
from agentflow.workflow.inputs import FileInput
from agentflow.workflow.loader import LoadedWorkflow
from agentflow.workflow.schema import HOST_TOOLS, Workflow

NO_MODEL_NOTE = (
    "No model ran: this report shows what the gather steps found. Set ANTHROPIC_API_KEY (or pass --model) "
    "to let the agent read it and answer."
)


class RunRequest(BaseModel):
    """What a trigger asks for. `inputs` values are text (as typed) or already typed values."""

    workflow: str
    inputs: dict[str, Any] = Field(default_factory=dict)
    actor: str = Field(default_factory=getpass.getuser)
    trigger: Literal["cli", "chatops", "schedule"] = "cli"
    priority: Literal["interactive", "batch"] | None = None
    model: str | None = None
    site: str | None = None
    read_only: bool = False
    run_id: str | None = None  # given when the trigger must name the run before it starts (a chat ack)


@dataclass
class RunEvents(Events):
    """Loop events plus the phases and gather steps of the run, for a live view."""

    on_phase: Callable[[str], None] = lambda phase: None
    on_step: Callable[[runs.StepRecord], None] = lambda step: None


@dataclass
class RunResult:
    """The finished run's record (scrubbed, as saved) and where it is. `unsaved`: why its final record could
    not be written (a full or read-only disk); the record then says so in its error and report, and `path`
    holds the record as it was when the run started."""

    record: runs.RunRecord
    path: Path
    notes: list[str] = field(default_factory=list)
    unsaved: StateError | None = None


@dataclass
class Run:
    """One run's state, built once by `Runner.execute` (which reads the config file once) and handed to each
    phase: what was asked, the workflow and its typed inputs, the bundled server's site resolved once (None when
    the workflow does not use it), the servers, how it spends the budget, the model, the record being written,
    the events of the live view, the notes its report starts with, and the run a replay replays."""

    request: RunRequest
    loaded: LoadedWorkflow
    inputs: dict[str, Any]
    site: SiteConfig | None
    specs: list[ServerSpec]
    metering: Metering
    model: Model | None
    record: runs.RunRecord
    events: RunEvents
    notes: list[str]
    replays: runs.RunRecord | None = None  # the run a `replay:` model replays, loaded once

    @property
    def workflow(self) -> Workflow:
        return self.loaded.workflow

    @property
    def who(self) -> audit.Actor:
        request = self.request
        return audit.Actor(actor=request.actor, trigger=request.trigger, run_id=self.record.id,
                           workflow=self.workflow.name)  # fmt: skip


_UNSET: Any = object()


class Runner:
    """Runs workflows; dependencies are injectable so tests run the real pipeline with doubles at the seams."""

    def __init__(
        self,
        *,
        model: Model | None = _UNSET,
        bundled: Callable[[], Any] | None = None,
        budget: Budget | None = _UNSET,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        pins: PinLock | None = _UNSET,
    ) -> None:
        """`budget=None` runs unmetered (e.g. against a sandbox in a benchmark); by default the machine's budget.
        `pins`: the lock the servers' tools are checked against before any call, by default `agentflow.lock`
        beside the config file; None checks nothing."""
        self.model = model
        self.bundled = bundled
        self.budget = budget
        self.clock = clock
        self.now = now
        self.pins = PinLock() if pins is _UNSET else pins

    def _budget(self, config: dict[str, Any]) -> Budget | None:
        if self.budget is _UNSET:
            self.budget = open_budget(config)
        return self.budget

    def _model(self, request: RunRequest, config: dict[str, Any]) -> tuple[Model | None, list[str]]:
        if self.model is not _UNSET:
            return self.model, []
        from agentflow.agent.select import model_from_spec

        model = model_from_spec(request.model, os.environ, config.get("model"))
        return model, ([] if model is not None or request.model == "none" else [NO_MODEL_NOTE])

    async def execute(self, request: RunRequest, events: RunEvents | None = None) -> RunResult:
        config = load_config()
        loaded = loader.load(request.workflow)
        workflow = loaded.workflow
        inputs = loaded.coerce_inputs(request.inputs)
        model, notes = self._model(request, config)
        replays = _replayed(model, workflow.name)
        started = self.now()
        began = self.clock()
        record = runs.RunRecord(
            id=request.run_id or runs.new_run_id(workflow.name, started),
            workflow=workflow.name,
            workflow_path=str(loaded.path),
            inputs=_recordable(inputs),
            actor=request.actor,
            trigger=request.trigger,
            priority=request.priority or workflow.budget.priority,
            model=model.name if model else "none",
            site=request.site,
            servers=list(workflow.servers),
            started_at=runs.now_iso(started),
            process=processes.this_process(),
        )
        path = runs.save(record)  # before anything happens: a disk that refuses it stops the run here
        try:
            audit.ready()  # every call is audited: a log that cannot take a line stops the run before its first
            specs = _server_specs(workflow.servers, config)
            site = resolve_site(request.site, config=config) if uses_bundled(specs) else None
            who = audit.Actor(actor=request.actor, trigger=request.trigger, run_id=record.id, workflow=workflow.name)
            budget = self._budget(config)
            metering = Metering.plan(
                specs, budget, site=site, priority=record.priority, who=who, cap=workflow.budget.max_calls,
                config=config,
            )  # fmt: skip
            notes += metering.fit(budget, workflow.name)
            run = Run(request, loaded, inputs, site, specs, metering, model, record, events or RunEvents(), notes,
                      replays)  # fmt: skip
            await self._run(run)
        except BaseException as error:
            record.terminal_reason = record.terminal_reason or _reason_for(error)
            record.error = record.error or (str(error) if isinstance(error, AgentflowError) else repr(error))
            raise
        finally:
            record.status = "finished"
            record.finished_at = runs.now_iso(self.now())
            record.duration_s = round(self.clock() - began, 3)
            unsaved = _save_final(record)
        # The record as saved, scrubbed of secrets: every output (terminal, --json, --output, Slack, deliveries)
        # is made from it, so a secret typed into an input shows nowhere the record does not.
        shown = runs.load(record.id) if unsaved is None else runs.RunRecord.model_validate(runs.scrubbed(record))
        return RunResult(shown, path, [redact.scrub(note) for note in notes], unsaved)

    async def _run(self, run: Run) -> None:
        workflow, record, events = run.workflow, run.record, run.events
        events.on_phase("connecting " + ", ".join(workflow.servers))
        async with Host(
            run.specs,
            site=run.site,
            read_only=run.request.read_only,
            bundled=self.bundled,
            quota=run.metering.bundled,
            withhold_restricted=workflow.output.withholds_restricted(run.request.trigger),
            pins=self.pins,
        ) as host:
            toolbox = build_toolbox(host.tools(), workflow.tools, reserved=HOST_TOOLS)
            gate = Gate(host, run.metering, who=run.who, toolbox=toolbox, stager=Stager(workflow.writes))
            context = {
                "inputs": run.inputs,
                "steps": {},
                "workflow": {"name": workflow.name, "title": workflow.title},
                "now": self.now().isoformat(timespec="seconds"),
            }
            events.on_phase("gathering")
            gatherer = Gatherer(
                run.loaded, toolbox, gate, record, events.on_step, self.clock, agent_follows=run.model is not None
            )
            await gatherer.run(context)
            if run.model is None:
                record.terminal_reason = TerminalReason.BUDGET if gate.exhausted else TerminalReason.COMPLETED
            else:
                events.on_phase("thinking")
                await self._loop(run, gate, run.model, context)
            if run.replays is not None:
                self._compare(run, run.replays)
            unasked = {c.index for c in record.changes if applies_unasked(c, workflow.writes)}
            if unasked and record.succeeded:
                events.on_phase("applying what the writes policy allows without asking")
                approver = f"{run.request.actor} (writes policy)"
                run.metering.rebind(approver)
                who = _apply_who(record, approver)
                call = Gate(host, run.metering, who=who, kind="apply").execute
                record.applied = await apply_plan(record, call, actor=approver, only=unasked, who=who)
        record.report = self._report(run, context)

    async def _loop(self, run: Run, gate: Gate, model: Model, context: dict[str, Any]) -> None:
        workflow, record = run.workflow, run.record

        async def dispatch(model_name: str, arguments: dict[str, Any], turn: int) -> Outcome:
            outcome = await gate.call(model_name, arguments, turn=turn)
            text = outcome.text
            if outcome.status == CallStatus.STAGED and gate.stager is not None:
                record.changes = list(gate.stager.plan)  # what was staged is in the record if the run dies
            elif outcome.status == CallStatus.BUDGET:
                text = f"Budget: {text.rstrip('.')}. No more Atlassian requests can be made; answer with what you have."
            return Outcome(text, outcome.is_error, outcome.requests, outcome.server, outcome.status,
                           outcome.result_sha256, outcome.stable_sha256)  # fmt: skip

        agent = workflow.agent
        limits = Limits(
            max_turns=agent.max_turns,
            max_tool_calls=agent.max_tool_calls,
            max_calls_per_tool=agent.max_calls_per_tool,
            max_output_tokens=agent.max_output_tokens,
            max_total_tokens=agent.max_total_tokens,
            timeout_seconds=agent.timeout_seconds,
        )
        tools = gate.toolbox.specs() if gate.toolbox else []
        loop = Loop(
            model,
            tools,
            dispatch,
            workflow.output.json_schema,
            limits,
            title=workflow.title,
            persona=workflow.persona,
            events=run.events,
            clock=self.clock,
            should_stop=lambda: TerminalReason.BUDGET if gate.exhausted else None,
            result_note=gate.note,
            system_extra=_budget_note(run.metering),
        )
        result = await loop.run(run.loaded.render_prompt(context))
        record.terminal_reason, record.error = result.terminal_reason, result.error
        record.plan, record.turns, record.tool_calls = result.plan, result.turns, result.tool_calls
        record.usage, record.output = result.usage, result.output
        record.cost_usd = model.cost(result.usage)

    def _compare(self, run: Run, source: runs.RunRecord) -> None:
        """A replay's record says where it parted from the run it replays; its report starts with that."""
        record = run.record
        record.diverged = replay.divergences(source, record)
        if record.diverged:
            shown = "; ".join(record.diverged[:5]) + ("; ..." if len(record.diverged) > 5 else "")
            run.notes.append(f"Replay of run {source.id} parted from it: {shown}")
        else:
            run.notes.append(f"Replay of run {source.id}: every call and result as it was")

    def _report(self, run: Run, context: dict[str, Any]) -> str:
        """The workflow's report template over what the run found.

        A template that fails still leaves a report: the answer as JSON, under a line saying why. A run that had
        completed then ends `report_error`, since a scheduled job or a script must not take a raw dump for its
        report; a run that had already failed keeps its own reason, with the template's problem added.
        """
        record = run.record
        failed = [s for s in record.steps if s.status == "error"]
        header = [f"> {note}" for note in run.notes]
        header += [f"> Gather step `{s.id}` ({s.tool}) failed: {s.error}" for s in failed]
        try:
            body = run.loaded.render_report({**context, "output": record.output})
        except WorkflowInvalid as error:
            if record.terminal_reason == TerminalReason.COMPLETED:
                record.terminal_reason = TerminalReason.REPORT_ERROR
            # The message names the template file and line, and says what it could not render.
            record.error = f"{record.error}; the report template failed too: {error}" if record.error else str(error)
            shown = " ".join(str(error).split())  # on the quote's one line
            header.append(f"> The report template failed, so the answer is shown as JSON: {shown}")
            body = None
        if body is None:
            body = f"# {run.workflow.title}\n\n```json\n{json.dumps(record.output, indent=2)}\n```\n"
        plan = record_section(record)
        return ("\n".join(header) + "\n\n" if header else "") + body + ("\n\n" + plan if plan else "")

    async def apply(
        self, run_id: str, *, actor: str, only: set[int] | None = None, on_change: Callable[[Any], None] = print
    ) -> tuple[runs.RunRecord, list[Applied]]:
        """Apply a recorded run's change plan (all of it, or the changes in `only`), exactly once."""
        refuse_if_read_only()
        record = runs.load(run_id)
        if not record.changes:
            raise ConfigError(f"run {record.id} staged no changes; there is nothing to apply")
        unknown = sorted((only or set()) - {c.index for c in record.changes})
        if unknown:
            raise ConfigError(
                f"run {record.id} has changes 1 to {len(record.changes)}; there is no change {unknown[0]}"
            )
        config = load_config()
        specs = _server_specs(sorted({change.server for change in record.changes}), config)
        site = resolve_site(record.site, config=config) if uses_bundled(specs) else None
        who = _apply_who(record, actor)
        metering = Metering.plan(
            specs, self._budget(config), site=site, priority="interactive", who=who, cap=None, config=config
        )
        # An approved change is made with the tools as pinned: one redefined since the run staged it stops here.
        async with Host(specs, site=site, bundled=self.bundled, quota=metering.bundled, pins=self.pins) as host:
            call = Gate(host, metering, who=who, kind="apply").execute  # metered and audited as `apply` lines
            results = await apply_plan(record, call, actor=actor, only=only, on_change=on_change, who=who)
        return record, results


def _replayed(model: Model | None, workflow: str) -> runs.RunRecord | None:
    """The run a `replay:` model replays (None for any other model); `ConfigError` for a run of another workflow."""
    if model is None or not model.name.startswith(replay.REPLAY):
        return None
    source = runs.load(model.name.removeprefix(replay.REPLAY))
    if source.workflow != workflow:
        raise ConfigError(f"run {source.id} was a run of {source.workflow}, not of {workflow}")
    return source


def _apply_who(record: runs.RunRecord, approver: str) -> audit.Actor:
    """In whose name an apply reaches the servers: the approving actor, on `apply` audit lines."""
    return audit.Actor(actor=approver, trigger="apply", run_id=record.id, workflow=record.workflow)


def _save_final(record: runs.RunRecord) -> StateError | None:
    """Save the finished record; when the disk refuses, the run's result is not lost with it: the record in
    hand says so (error and report) for the trigger to show, and the error is returned."""
    try:
        runs.save(record)
    except StateError as error:
        note = f"this run's record could not be saved: {error}"
        if record.changes:  # apply reads the plan from the record: without it there is nothing to apply
            note += "; the changes it staged cannot be applied: run it again once the disk is fixed"
        record.error = f"{record.error}; {note}" if record.error else note
        record.report = f"> Note: {note}\n\n{record.report or ''}"
        return error
    return None


def _server_specs(names: list[str], config: dict[str, Any]) -> list[ServerSpec]:
    """The configured servers `names` refers to; `ConfigError` for one not configured."""
    specs = load_server_specs(config)
    return [specs.get(name) or _unknown_server(name, specs) for name in names]


def _budget_note(metering: Metering) -> str:
    """What the system prompt says of the run's budget: its requests, and why to spare them."""
    if metering.allowance is None:
        return ""
    return (
        f"This run may make {metering.allowance.cap} Atlassian HTTP requests (a tool call makes one or more, a "
        "write may make two); the hourly rate budget is shared with other people and jobs, so do not spend "
        "requests you do not need."
    )


def _unknown_server(name: str, specs: dict[str, Any]) -> NoReturn:
    known = ", ".join(sorted(specs)) or "none"
    raise ConfigError(f"the workflow names the MCP server '{name}', which is not configured (configured: {known})")


def _reason_for(error: BaseException) -> TerminalReason:
    """The terminal reason of a run that ended by an exception rather than by the loop."""
    if isinstance(error, KeyboardInterrupt | asyncio.CancelledError):
        return TerminalReason.CANCELLED
    if isinstance(error, ServerError | ServerStartError):
        return TerminalReason.SERVER_ERROR
    if isinstance(error, ModelError):
        return TerminalReason.MODEL_ERROR
    if isinstance(error, Deferred):
        return TerminalReason.DEFERRED
    if isinstance(error, ConfigError):
        return TerminalReason.CONFIG_ERROR
    return TerminalReason.CRASHED


def _recordable(inputs: dict[str, Any]) -> dict[str, Any]:
    """Inputs as the record keeps them: a file input by its path and size, not its whole text."""
    return {
        name: {"file": value.path, "chars": len(value.text)} if isinstance(value, FileInput) else value
        for name, value in inputs.items()
    }
