"""One chat job in its own process (`python -m agentflow.chatops.worker`): a JSON job on stdin, one JSON line
on stdout. A run's record is written by the runner as always; apply answers with what it did."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from agentflow.errors import AgentflowError
from agentflow.redact import install_logging, scrub
from agentflow.runner import Runner, RunRequest
from agentflow.workflow.inputs import FileInput


async def perform(job: dict[str, Any]) -> dict[str, Any]:
    runner = Runner()
    if job["op"] == "apply":
        only = set(job["only"]) or None
        _, results = await runner.apply(job["run_id"], actor=job["actor"], only=only, on_change=lambda _: None)
        return {"applied": [result.model_dump(mode="json") for result in results]}
    request = RunRequest.model_validate(job["request"])
    for name, text in job.get("pasted", {}).items():
        request.inputs[name] = FileInput(path=f"(chat: {request.actor})", name="message", text=text)
    record = (await runner.execute(request)).record
    return {"run_id": record.id}


def main() -> None:
    install_logging()
    try:
        answer = asyncio.run(perform(json.loads(sys.stdin.read())))
    except AgentflowError as error:
        answer = {"error": scrub(str(error))}
    except Exception as error:  # whatever happened, the chat gets told instead of silence
        answer = {"error": f"{type(error).__name__}: {scrub(str(error))}"}
    print(json.dumps(answer))
    sys.exit(1 if "error" in answer else 0)


if __name__ == "__main__":
    main()
