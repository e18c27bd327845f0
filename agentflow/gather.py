"""Gather steps: the deterministic part of a run, before the model (and the whole run with `--model none`).

Each step renders its templated arguments over `inputs` and earlier `steps`, honours `when` and `foreach`, and
either calls an MCP tool (through the run's gate: budget, audit, redaction, cache) or runs a built-in analysis
(`compute`). A failed step is recorded and leaves `None` for later steps and templates; it does not stop
the run, because a partial picture is still worth reporting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from agentflow import audit, runs
from agentflow.analysis.registry import run_compute
from agentflow.host.gate import Gate, GateOutcome
from agentflow.host.toolbox import Toolbox
from agentflow.runs import CallStatus, status_for
from agentflow.workflow import loader
from agentflow.workflow.loader import LoadedWorkflow
from agentflow.workflow.schema import StepSpec


class Gatherer:
    def __init__(
        self,
        loaded: LoadedWorkflow,
        toolbox: Toolbox,
        gate: Gate,
        record: runs.RunRecord,
        on_step: Callable[[runs.StepRecord], None],
        clock: Callable[[], float] = time.monotonic,
        *,
        agent_follows: bool = True,
    ) -> None:
        """`agent_follows`: a model runs after the steps; without one (`none` mode) a step's `pages.leave` keeps
        nothing back, since the whole budget is the steps'."""
        self.loaded, self.toolbox, self.gate, self.record = loaded, toolbox, gate, record
        self.on_step, self.clock, self.agent_follows = on_step, clock, agent_follows

    async def run(self, context: dict[str, Any]) -> None:
        """Fill `context["steps"]` with each step's result, in order."""
        for step in self.loaded.workflow.steps:
            if step.when is not None and not self.loaded.evaluate(step.when, context):
                self._record(runs.StepRecord(id=step.id, tool=step.action, status="skipped"))
                context["steps"][step.id] = None
                continue
            if step.foreach is None:
                context["steps"][step.id] = await self._one(step, context)
                continue
            items = self.loaded.evaluate(step.foreach, context)
            if not isinstance(items, list | tuple):
                problem = loader.Problem(f"step '{step.id}': foreach gave {type(items).__name__}, not a list")
                raise loader.WorkflowInvalid([problem])
            context["steps"][step.id] = [await self._one(step, {**context, "item": item}) for item in items]

    async def _one(self, step: StepSpec, context: dict[str, Any]) -> Any:
        arguments = self.loaded.render_value(step.args, context)
        entry = runs.StepRecord(id=step.id, tool=step.action, arguments=_summarised(arguments))
        began = self.clock()
        try:
            value = await self._compute(step, arguments) if step.compute else await self._call(step, arguments, entry)
        except _StepFailed as failed:
            entry.status, entry.error, value = "error", str(failed), None
        except BaseException as error:  # the server failed: the run ends, and the record says where and how
            entry.status, entry.error = status_for(error), str(error)[:1000]
            raise
        finally:
            entry.duration_ms = (self.clock() - began) * 1000
            self._record(entry)
        return value

    async def _call(self, step: StepSpec, arguments: dict[str, Any], entry: runs.StepRecord) -> Any:
        tool = self.toolbox.by_tool_name(step.tool or "")
        outcome = await self.gate.call_tool(tool, arguments)
        entry.requests, entry.result_sha256 = outcome.requests, outcome.result_sha256
        entry.stable_sha256 = outcome.stable_sha256
        if outcome.is_error:
            prefix = "budget: " if outcome.status == CallStatus.BUDGET else ""
            entry.status, entry.error = "error", prefix + outcome.text[:1000]
            return None
        if step.pages.max > 1 and isinstance(outcome.structured, dict):
            return await self._more_pages(step, tool, arguments, outcome, entry)
        return outcome.structured if outcome.structured is not None else outcome.text

    async def _more_pages(
        self, step: StepSpec, tool: Any, arguments: dict[str, Any], first: GateOutcome, entry: runs.StepRecord
    ) -> dict[str, Any]:
        """Follow `next_page_token` as `step.pages` allows, and say in the result's `paging` how far it read:
        `{"pages": read, "complete": bool, "stopped": why it stopped with more to read, or None}`."""
        pages, outcomes = [first.structured or {}], [first]
        stopped = None
        while token := pages[-1].get("next_page_token"):
            left = self.gate.requests_left()
            leave = step.pages.leave if self.agent_follows else 0
            if len(pages) >= step.pages.max:
                stopped = f"the step reads at most {step.pages.max} pages (pages.max)"
            elif left == 0:
                stopped = "the run's budget (budget.max_calls) is spent"
            elif left is not None and left <= leave:
                stopped = (
                    f"the run's budget (budget.max_calls) has {left} Atlassian requests left, and the step leaves "
                    f"{leave} of them to the agent (pages.leave)"
                )
            else:
                outcome = await self.gate.call_tool(tool, {**arguments, "page_token": token})
                entry.requests += outcome.requests
                if outcome.is_error or not isinstance(outcome.structured, dict):
                    stopped = f"page {len(pages) + 1} failed: {' '.join(outcome.text.split())[:300]}"
                else:
                    pages.append(outcome.structured)
                    outcomes.append(outcome)
                    continue
            break
        entry.result_sha256 = audit.digest("".join(o.result_sha256 or "" for o in outcomes))
        entry.stable_sha256 = audit.digest("".join(o.stable_sha256 or "" for o in outcomes))
        merged = _merged(pages)
        merged["paging"] = {"pages": len(pages), "complete": stopped is None, "stopped": stopped}
        return merged

    async def _compute(self, step: StepSpec, arguments: dict[str, Any]) -> Any:
        # Analyses are pure and quick; a bug in one must not cost the whole run its report.
        try:
            return run_compute(step.compute or "", arguments)
        except Exception as error:
            raise _StepFailed(f"{type(error).__name__}: {error}") from error

    def _record(self, entry: runs.StepRecord) -> None:
        self.record.steps.append(entry)
        self.on_step(entry)


class _StepFailed(Exception):
    pass


def _merged(pages: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from several pages of one search: list fields (`issues`; a page search's `pages`) joined in
    order, the rest as the first page gave them, and the last page's `next_page_token` (what was left unread)."""
    merged = dict(pages[0])
    for page in pages[1:]:
        for name, value in page.items():
            if isinstance(value, list) and isinstance(merged.get(name), list):
                merged[name] = merged[name] + value
    merged["next_page_token"] = pages[-1].get("next_page_token")
    return merged


def _summarised(arguments: dict[str, Any]) -> dict[str, Any]:
    """What the run record keeps of a step's arguments: small values whole, big ones (earlier results) named."""
    return {
        name: value if len(repr(value)) <= 500 else f"<{type(value).__name__} of {len(repr(value))} characters>"
        for name, value in arguments.items()
    }
