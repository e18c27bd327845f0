"""Running a suite: each case's runs (`repeat` of them) through the one runner, each against a fresh copy of the
embedded sandbox (or the case's configured site, read-only unless it allows writes), cases in parallel.

What a case stages is not applied; a workflow's `writes: auto` policy still applies its share at the end of a
run, as it always does: to the case's fresh sandbox, or to a configured site only when the case allows writes
(otherwise the bundled server offers that site no write tool). A fresh sandbox is unmetered (it is no Atlassian
site); a configured site spends the machine's hourly budget like any run.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from agentflow.agent.models import Model
from agentflow.agent.select import model_from_spec
from agentflow.errors import AgentflowError
from agentflow.evals.expect import Verdict, check
from agentflow.evals.suite import Case, Suite
from agentflow.runner import Runner, RunRequest
from agentflow.workflow import loader

PARALLEL = 4


class RunOutcome(BaseModel):
    """One run of a case: its record's id and figures, and each expectation's verdict."""

    run_id: str | None = None
    terminal_reason: str | None = None
    error: str | None = None
    requests: int = 0
    tokens: int = 0
    cost_usd: float | None = None
    duration_s: float = 0.0
    verdicts: list[Verdict] = []

    @property
    def passed(self) -> bool:
        return self.error is None and all(verdict.passed for verdict in self.verdicts)


class CaseResult(BaseModel):
    name: str
    workflow: str
    model: str
    pass_rate: float
    runs: list[RunOutcome]

    @property
    def passed(self) -> bool:
        return sum(run.passed for run in self.runs) >= self.pass_rate * len(self.runs)


async def run_suite(
    suite: Suite, *, parallel: int = PARALLEL, on_case: Callable[[CaseResult], None] = lambda result: None
) -> list[CaseResult]:
    """Every case of `suite`, at most `parallel` at a time; results in the suite's order."""
    gate = asyncio.Semaphore(parallel)
    folder = suite.path.parent if suite.path else Path.cwd()

    async def one(case: Case) -> CaseResult:
        async with gate:
            outcomes = [await _run(case, folder) for _ in range(case.repeat)]
        result = CaseResult(name=case.name, workflow=case.workflow, model=case.model, pass_rate=case.pass_rate,
                            runs=outcomes)  # fmt: skip
        on_case(result)
        return result

    return list(await asyncio.gather(*(one(case) for case in suite.cases)))


async def _run(case: Case, folder: Path) -> RunOutcome:
    began = time.monotonic()
    try:
        runner = Runner(**_seams(case, folder))
        sandbox = case.sandbox_flavor is not None  # a fresh copy: its write tools are offered, to be staged
        request = RunRequest(workflow=case.workflow, inputs=_inputs(case, folder), actor="eval",
                             site=None if sandbox else case.site, read_only=not (sandbox or case.writes))  # fmt: skip
        record = (await runner.execute(request)).record
    except AgentflowError as error:  # the case could not run (a bad input, a missing script): it fails, named
        return RunOutcome(error=str(error), duration_s=round(time.monotonic() - began, 3))
    usage = record.usage
    return RunOutcome(
        run_id=record.id,
        terminal_reason=str(record.terminal_reason),
        requests=record.requests(),
        tokens=usage.input_tokens + usage.output_tokens,
        cost_usd=record.cost_usd,
        duration_s=record.duration_s or 0.0,
        verdicts=check(case.expect, record),
    )


def _seams(case: Case, folder: Path) -> dict[str, Any]:
    """The runner's model, and for a sandbox case a fresh sandbox and no budget."""
    seams: dict[str, Any] = {"model": _model(case.model, folder)}
    if case.sandbox_flavor is not None:
        from agentflow.atlassian.testing import server_for
        from agentflow.sandbox.site import Site

        sandbox = Site.open(case.sandbox_flavor)
        seams["bundled"] = lambda quota: server_for(sandbox, user=case.user, quota=quota)
        seams["budget"] = None
    return seams


def _model(spec: str, folder: Path) -> Model | None:
    """The case's model; a script's path is found from the suite's folder."""
    kind, _, rest = spec.partition(":")
    if kind == "script" and rest and not Path(rest).expanduser().is_absolute():
        spec = f"script:{folder / rest}"
    return model_from_spec(spec, os.environ)


def _inputs(case: Case, folder: Path) -> dict[str, Any]:
    """The case's inputs; a relative path given to a `file` input is found from the suite's folder."""
    specs = loader.load(case.workflow).workflow.inputs
    inputs = dict(case.inputs)
    for name, value in case.inputs.items():
        spec = specs.get(name)
        if spec is not None and spec.type == "file" and isinstance(value, str) and not Path(value).is_absolute():
            inputs[name] = str(folder / value)
    return inputs
