"""Host overhead: a whole `incident` run with the scripted model against the in-process sandbox, and what the
host adds to each tool call beyond the bundled server's own time.

Run: `python benchmarks/runner.py [--runs 5] [--calls 200]`. Targets: a full run under 1.5 s wall; under 5 ms
median host overhead per tool call (through the gate: MCP client session, budget bookkeeping, redaction and the
audit line, next to calling the server's tool function directly).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RUN_TARGET_S = 1.5
OVERHEAD_TARGET_MS = 5.0


async def full_runs(count: int) -> list[float]:
    from agentflow.agent.scripted import ScriptedModel
    from agentflow.runner import Runner, RunRequest

    timings = []
    for _ in range(count):
        with tempfile.TemporaryDirectory() as state:
            os.environ["AGENTFLOW_STATE_DIR"] = state
            began = time.perf_counter()
            model = ScriptedModel(ROOT / "examples" / "scripts" / "incident.yaml")
            request = RunRequest(workflow="incident", inputs={"alert": "Database connection pool exhaustion"})
            result = await Runner(model=model).execute(request)
            timings.append(time.perf_counter() - began)
            assert result.record.terminal_reason == "completed", result.record.error
    return timings


async def overhead(calls: int) -> tuple[list[float], list[float]]:
    """Each call the way a run makes it: through the gate (MCP client session, budget bookkeeping, redaction,
    the audit line), next to calling the server's tool function directly."""
    from agentflow import audit
    from agentflow.atlassian.testing import server_for
    from agentflow.host.gate import Gate
    from agentflow.host.servers import Host
    from agentflow.host.specs import ServerSpec
    from agentflow.metering import Metering
    from agentflow.sandbox.site import Site

    site = Site.open("cloud")
    server = server_for(site, user="sre")
    arguments = {"key": "PAY-429"}
    who = audit.Actor(actor="bench", trigger="cli", run_id="bench", workflow="bench")
    through_gate, direct = [], []
    with tempfile.TemporaryDirectory() as state:
        os.environ["AGENTFLOW_STATE_DIR"] = state
        async with Host([ServerSpec(name="atlassian", transport="bundled")], bundled=lambda quota: server) as host:
            gate = Gate(host, Metering(), who=who)
            for _ in range(calls):
                began = time.perf_counter()
                await gate.execute("atlassian", "get_jira_issue", arguments)
                through_gate.append((time.perf_counter() - began) * 1000)
                began = time.perf_counter()
                await server.call_tool("get_jira_issue", arguments)
                direct.append((time.perf_counter() - began) * 1000)
    return through_gate, direct


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    runs = asyncio.run(full_runs(args.runs))
    host, direct = asyncio.run(overhead(args.calls))
    run_s, host_ms, direct_ms = statistics.median(runs), statistics.median(host), statistics.median(direct)
    extra = host_ms - direct_ms
    print(f"{'measurement':<48} {'agentflow':>10} {'baseline':>10} {'target':>9}  verdict")
    print(f"{'incident run, scripted model, in-process, s':<48} {run_s:>10.2f} {'-':>10} {RUN_TARGET_S:>9.1f}  "
          f"{'ok' if run_s < RUN_TARGET_S else 'OVER'}")  # fmt: skip
    print(
        f"{'get_jira_issue via gate vs server direct, ms':<48} {host_ms:>10.2f} {direct_ms:>10.2f} "
        f"{'+' + str(OVERHEAD_TARGET_MS):>9}  {'ok' if extra < OVERHEAD_TARGET_MS else 'OVER'} (+{extra:.2f} ms)"
    )
    print(f"\n({args.runs} full runs: min {min(runs):.2f} s, max {max(runs):.2f} s; {args.calls} calls each way)")


if __name__ == "__main__":
    main()
