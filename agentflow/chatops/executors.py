"""Where chat jobs run.

`InSubprocess` is what `agentflow serve` uses: each job is a fresh `python -m agentflow.chatops.worker`, so a
run's CPU never competes with the acks for the interpreter lock, a crash or a hang takes only that job, and
the server's own secrets (the signing secret, the API token) are not in the run's environment.
`InThread` runs the runner in this process, one event loop per worker thread; tests hand it a runner
factory with a scripted model.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import anyio

from agentflow import runs
from agentflow.changes.plan import Applied
from agentflow.errors import AgentflowError, ConfigError
from agentflow.redact import scrub
from agentflow.runner import Runner, RunRequest
from agentflow.workflow.inputs import FileInput


class JobFailed(AgentflowError):
    """The job ended without a record to show; the message says why, for the chat."""


class Executor(Protocol):
    async def run(self, request: RunRequest) -> runs.RunRecord:
        """The finished run's record (also when it failed); `JobFailed` when it never started."""
        ...

    async def apply(self, run_id: str, actor: str, only: set[int] | None) -> list[Applied]: ...


def _finished(run_id: str, error: BaseException | str) -> runs.RunRecord:
    try:
        return runs.load(run_id)
    except ConfigError:
        detail = str(error) if isinstance(error, AgentflowError | str) else type(error).__name__
        raise JobFailed(scrub(f"run {run_id} could not start: {detail}")) from None


class InThread:
    def __init__(self, runner_factory: Callable[[], Runner] = Runner) -> None:
        self.runner_factory = runner_factory

    async def run(self, request: RunRequest) -> runs.RunRecord:
        def blocking() -> runs.RunRecord:
            try:
                return asyncio.run(self.runner_factory().execute(request)).record
            except Exception as error:
                return _finished(request.run_id or "", error)

        return await anyio.to_thread.run_sync(blocking)

    async def apply(self, run_id: str, actor: str, only: set[int] | None) -> list[Applied]:
        def blocking() -> list[Applied]:
            runner = self.runner_factory()
            return asyncio.run(runner.apply(run_id, actor=actor, only=only, on_change=lambda _: None))[1]

        try:
            return await anyio.to_thread.run_sync(blocking)
        except AgentflowError as error:
            raise JobFailed(scrub(str(error))) from None


class InSubprocess:
    def __init__(self, env: Mapping[str, str] | None = None, timeout_s: float = 3600) -> None:
        self.env = dict(os.environ if env is None else env)
        self.timeout_s = timeout_s

    async def _worker(self, job: dict[str, Any]) -> dict[str, Any]:
        command = [sys.executable, "-m", "agentflow.chatops.worker"]
        with anyio.fail_after(self.timeout_s):  # cancelling kills the child
            done = await anyio.run_process(command, input=json.dumps(job).encode(), env=self.env, check=False)
        try:
            return json.loads(done.stdout.decode().strip().splitlines()[-1])
        except (IndexError, ValueError):
            tail = scrub(done.stderr.decode(errors="replace").strip()[-500:])
            return {"error": f"the run's process exited with {done.returncode}: {tail or 'no output'}"}

    async def run(self, request: RunRequest) -> runs.RunRecord:
        pasted = {k: v.text for k, v in request.inputs.items() if isinstance(v, FileInput)}
        inputs = {k: v for k, v in request.inputs.items() if k not in pasted}
        job = {"op": "run", "request": request.model_copy(update={"inputs": inputs}).model_dump(mode="json"),
               "pasted": pasted}  # fmt: skip
        try:
            answer = await self._worker(job)
        except TimeoutError:
            answer = {"error": f"the run took longer than {self.timeout_s:.0f} s and was stopped"}
        return _finished(request.run_id or "", answer.get("error") or "no record was written")

    async def apply(self, run_id: str, actor: str, only: set[int] | None) -> list[Applied]:
        answer = await self._worker({"op": "apply", "run_id": run_id, "actor": actor, "only": sorted(only or [])})
        if "error" in answer:
            raise JobFailed(answer["error"])
        return [Applied.model_validate(item) for item in answer["applied"]]
