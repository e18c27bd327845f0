"""Running a suite: each case's runs (`repeat` of them) through the one runner, each against a fresh copy of the
embedded sandbox (or the case's configured site, read-only unless it allows writes), cases in parallel.

What a case stages is not applied; a workflow's `writes: auto` policy still applies its share at the end of a
run, as it always does: to the case's fresh sandbox, or to a configured site only when the case allows writes
(otherwise the bundled server offers that site no write tool). A fresh sandbox is unmetered (it is no Atlassian
site); a configured site spends the machine's hourly budget like any run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from agentflow.errors import AgentflowError
from agentflow.evals import cases
from agentflow.evals.expect import Verdict, check
from agentflow.evals.suite import Case, Suite
from agentflow.runner import Runner, RunRequest

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
        # 7 of 100 at 0.07 passes: the product's float error must not make it 7.000000000000001
        return sum(run.passed for run in self.runs) >= round(self.pass_rate * len(self.runs), 9)


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
        loaded = cases.workflow(case, folder)
        runner = Runner(**_seams(case, folder))
        sandbox = case.sandbox_flavor is not None  # a fresh copy: its write tools are offered, to be staged
        request = RunRequest(workflow=str(loaded.path), inputs=cases.inputs(case, loaded, folder), actor="eval",
                             site=None if sandbox else case.site, read_only=not (sandbox or case.writes))  # fmt: skip
        record = (await runner.execute(request)).record
    except AgentflowError as error:  # the case could not run (its site is down, a model error): it fails, named
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
    seams: dict[str, Any] = {"model": cases.model(case, folder)}
    if case.sandbox_flavor is not None:
        from agentflow.atlassian.testing import server_for
        from agentflow.sandbox.site import Site

        sandbox = Site.open(case.sandbox_flavor)
        seams["bundled"] = lambda quota: server_for(sandbox, user=case.user, quota=quota)
        seams["budget"] = None
    return seams
