"""The one entry point every trigger calls: `RunRequest` -> `RunResult`.

load the workflow and coerce its inputs -> connect the servers it names -> build the tool catalogue from its
allowlist -> run the gather steps -> (unless the model is `none`) run the plan/act loop -> render the report
-> record the run. The CLI, the ChatOps server and the scheduler never orchestrate a run themselves.
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

from agentflow import audit, runs
from agentflow.agent.loop import Events, Limits, Loop, Outcome
from agentflow.agent.models import Model
from agentflow.budget import Budget, open_budget
from agentflow.changes.apply import apply_plan, refuse_if_read_only
from agentflow.changes.plan import Applied, Stager, applied_table, applies_unasked, plan_table
from agentflow.config import load_config
from agentflow.errors import AgentflowError, BudgetDeferred, ConfigError, ModelError, ServerError, ServerStartError
from agentflow.gather import Gatherer
from agentflow.host.gate import Gate
from agentflow.host.servers import Host, ServerSpec, load_server_specs
from agentflow.host.toolbox import Toolbox, build_toolbox
from agentflow.metering import Metering
from agentflow.runs import CallStatus, TerminalReason
from agentflow.workflow import loader
from agentflow.workflow.inputs import FileInput
from agentflow.workflow.loader import LoadedWorkflow
from agentflow.workflow.schema import HOST_TOOLS

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
    record: runs.RunRecord
    path: Path
    notes: list[str] = field(default_factory=list)


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
    ) -> None:
        """`budget=None` runs unmetered (e.g. against a sandbox in a benchmark); by default the machine's budget."""
        self.model = model
        self.bundled = bundled
        self.budget = budget
        self.clock = clock
        self.now = now

    def _budget(self) -> Budget | None:
        if self.budget is _UNSET:
            self.budget = open_budget(load_config())
        return self.budget

    def _model(self, request: RunRequest) -> tuple[Model | None, list[str]]:
        if self.model is not _UNSET:
            return self.model, []
        from agentflow.agent.select import model_from_spec

        model = model_from_spec(request.model, os.environ, load_config().get("model"))
        return model, ([] if model is not None or request.model == "none" else [NO_MODEL_NOTE])

    async def execute(self, request: RunRequest, events: RunEvents | None = None) -> RunResult:
        events = events or RunEvents()
        loaded = loader.load(request.workflow)
        workflow = loaded.workflow
        inputs = loaded.coerce_inputs(request.inputs)
        model, notes = self._model(request)
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
        )
        runs.save(record)
        try:
            specs = _server_specs(workflow.servers)
            who = audit.Actor(actor=request.actor, trigger=request.trigger, run_id=record.id, workflow=workflow.name)
            metering = Metering.plan(
                specs, self._budget(), site=request.site, priority=record.priority, who=who,
                cap=workflow.budget.max_calls,
            )  # fmt: skip
            self._check_allowance(metering, loaded, record, notes)
            await self._run(request, loaded, inputs, model, record, events, notes, specs, metering)
        except BaseException as error:
            record.terminal_reason = record.terminal_reason or _reason_for(error)
            record.error = record.error or (str(error) if isinstance(error, AgentflowError) else repr(error))
            raise
        finally:
            record.status = "finished"
            record.finished_at = runs.now_iso(self.now())
            record.duration_s = round(self.clock() - began, 3)
            path = runs.save(record)
        return RunResult(record, path, notes)

    def _check_allowance(
        self, metering: Metering, loaded: LoadedWorkflow, record: runs.RunRecord, notes: list[str]
    ) -> None:
        """Fit the run's cap on Atlassian requests (`budget.max_calls`) to what the hourly budget has left on the
        sites it reaches. A batch run that does not fit is deferred rather than started to die halfway."""
        budget, allowance = self._budget(), metering.allowance
        if budget is None or allowance is None:
            return
        cap, priority = allowance.cap, record.priority
        for site in sorted(metering.sites()):
            available = budget.available(site, priority)
            paused = budget.ledger.paused_until(site, budget.clock())
            if priority == "batch" and (cap > available or paused):
                retry_at = budget.fits_at(site, cap, "batch")
                when = time.strftime("%H:%M", time.localtime(retry_at)) if retry_at != float("inf") else "never"
                record.terminal_reason = TerminalReason.DEFERRED
                raise BudgetDeferred(
                    f"deferred: {loaded.workflow.name} needs {cap} Atlassian requests and batch work may use "
                    f"{available} of {site}'s hourly budget now{' (the site is rate limited)' if paused else ''}; "
                    f"it would fit at {when}",
                    retry_at,
                )
            if available == 0:
                retry_at = budget.fits_at(site, 1, priority)
                notes.append(
                    f"The hourly budget of {site} is used up: this run could make no Atlassian request (room again "
                    f"at {time.strftime('%H:%M', time.localtime(retry_at))})."
                )
            elif available < allowance.cap:
                notes.append(
                    f"Started with {available} of its {cap} Atlassian requests: the hourly budget of {site} is nearly "
                    "used up."
                )
            if available:  # at 0 the site's ledger refuses each request itself, saying when room frees up
                allowance.cap = min(allowance.cap, available)

    async def _run(
        self,
        request: RunRequest,
        loaded: LoadedWorkflow,
        inputs: dict[str, Any],
        model: Model | None,
        record: runs.RunRecord,
        events: RunEvents,
        notes: list[str],
        specs: list[ServerSpec],
        metering: Metering,
    ) -> None:
        workflow = loaded.workflow
        events.on_phase("connecting " + ", ".join(workflow.servers))
        async with Host(
            specs, site=request.site, read_only=request.read_only, bundled=self.bundled, quota=metering.bundled
        ) as host:
            who = audit.Actor(actor=request.actor, trigger=request.trigger, run_id=record.id, workflow=workflow.name)
            toolbox = build_toolbox(host.tools(), workflow.tools, reserved=HOST_TOOLS)
            stager = Stager(workflow.writes)
            gate = Gate(host, metering, who=who, toolbox=toolbox, stager=stager)
            context = {
                "inputs": inputs,
                "steps": {},
                "workflow": {"name": workflow.name, "title": workflow.title},
                "now": self.now().isoformat(timespec="seconds"),
            }
            events.on_phase("gathering")
            await Gatherer(loaded, toolbox, gate, record, events.on_step, self.clock).run(context)
            if model is None:
                record.terminal_reason = TerminalReason.BUDGET if gate.exhausted else TerminalReason.COMPLETED
            else:
                events.on_phase("thinking")
                await self._loop(loaded, toolbox, gate, model, context, record, events)
            unasked = {c.index for c in record.changes if applies_unasked(c, workflow.writes)}
            if unasked and record.succeeded:
                events.on_phase("applying what the writes policy allows without asking")
                approver = f"{request.actor} (writes policy)"
                metering.rebind(approver)
                call = self._apply_call(host, metering, record, approver)
                record.applied = await apply_plan(record, call, actor=approver, only=unasked)
        record.report = self._report(loaded, context, record, notes)

    async def _loop(
        self,
        loaded: LoadedWorkflow,
        toolbox: Toolbox,
        gate: Gate,
        model: Model,
        context: dict[str, Any],
        record: runs.RunRecord,
        events: RunEvents,
    ) -> None:
        workflow = loaded.workflow

        async def dispatch(model_name: str, arguments: dict[str, Any], turn: int) -> Outcome:
            outcome = await gate.call(model_name, arguments, turn=turn)
            text = outcome.text
            if outcome.status == CallStatus.STAGED and gate.stager is not None:
                record.changes = list(gate.stager.plan)  # the record shows the plan as it grows
            elif outcome.status == CallStatus.BUDGET:
                text = f"Budget: {text.rstrip('.')}. No more Atlassian requests can be made; answer with what you have."
            return Outcome(text, outcome.is_error, outcome.requests, outcome.server, outcome.status)

        agent = workflow.agent
        limits = Limits(
            max_turns=agent.max_turns,
            max_tool_calls=agent.max_tool_calls,
            max_calls_per_tool=agent.max_calls_per_tool,
            max_output_tokens=agent.max_output_tokens,
            max_total_tokens=agent.max_total_tokens,
            timeout_seconds=agent.timeout_seconds,
        )
        loop = Loop(
            model,
            toolbox.specs(),
            dispatch,
            workflow.output.json_schema,
            limits,
            title=workflow.title,
            persona=workflow.persona,
            events=events,
            clock=self.clock,
            should_stop=lambda: TerminalReason.BUDGET if gate.exhausted else None,
            result_note=gate.note,
            system_extra=_budget_note(gate.metering),
        )
        result = await loop.run(loaded.render_prompt(context))
        record.terminal_reason, record.error = result.terminal_reason, result.error
        record.plan, record.turns, record.tool_calls = result.plan, result.turns, result.tool_calls
        record.usage, record.output = result.usage, result.output
        record.cost_usd = model.cost(result.usage)

    def _report(self, loaded: LoadedWorkflow, context: dict[str, Any], record: runs.RunRecord, notes: list[str]) -> str:
        """The workflow's report template over what the run found; a template failure still leaves a report."""
        failed = [s for s in record.steps if s.status == "error"]
        header = [f"> {note}" for note in notes]
        header += [f"> Gather step `{s.id}` ({s.tool}) failed: {s.error}" for s in failed]
        try:
            body = loaded.render_report({**context, "output": record.output})
        except AgentflowError as error:
            record.error = record.error or f"report template failed: {error}"
            body = None
        if body is None:
            body = f"# {loaded.workflow.title}\n\n```json\n{json.dumps(record.output, indent=2)}\n```\n"
        applied = {item.index for item in record.applied if item.state == "applied"}
        plan = "\n\n".join(
            part
            for part in (
                applied_table(record.applied) if record.applied else "",
                plan_table([c for c in record.changes if c.index not in applied], record.id),
            )
            if part
        )
        return ("\n".join(header) + "\n\n" if header else "") + body + ("\n\n" + plan if plan else "")

    def _apply_call(self, host: Host, metering: Metering, record: runs.RunRecord, approver: str) -> Any:
        """How apply reaches the servers: metered and audited as `apply` lines with the approving actor."""
        who = audit.Actor(actor=approver, trigger="apply", run_id=record.id, workflow=record.workflow)
        return Gate(host, metering, who=who, kind="apply").execute

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
        specs = _server_specs(sorted({change.server for change in record.changes}))
        who = audit.Actor(actor=actor, trigger="apply", run_id=record.id, workflow=record.workflow)
        metering = Metering.plan(specs, self._budget(), site=record.site, priority="interactive", who=who, cap=None)
        async with Host(specs, site=record.site, bundled=self.bundled, quota=metering.bundled) as host:
            results = await apply_plan(
                record, self._apply_call(host, metering, record, actor), actor=actor, only=only, on_change=on_change
            )
        return record, results


def _server_specs(names: list[str]) -> list[ServerSpec]:
    """The configured servers `names` refers to; `ConfigError` for one not configured."""
    specs = load_server_specs(load_config())
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
    if isinstance(error, BudgetDeferred):
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
