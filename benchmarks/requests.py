"""What an `incident` run costs the Atlassian site: the HTTP requests the sandbox received, without a model and
with the scripted model, on Cloud and Data Center, next to what the same runs cost before (#20: 7 and 8).

Run: `python benchmarks/requests.py`. The target is at most 4 requests a run. The count is the sandbox's own
request log (what a counting proxy in front of a real site would see), not what agentflow says it sent; each
run gets a fresh sandbox and a fresh server, so the once-per-server lookups (Compass's cloud id) are paid.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET = 4
BEFORE = {"none": 7, "scripted": 8}  # the same runs before #20, on either flavor
ALERT = {"alert": "Database connection pool exhaustion"}


async def requests_of(flavor: str, mode: str, state: Path) -> list[dict]:
    """The requests one run sent, as the sandbox logged them."""
    from agentflow.agent.scripted import ScriptedModel
    from agentflow.atlassian.testing import server_for
    from agentflow.runner import Runner, RunRequest
    from agentflow.sandbox import requestlog
    from agentflow.sandbox.site import Site

    log = state / f"{flavor}-{mode}.jsonl"
    site = Site.open(flavor, request_log=log)
    model = ScriptedModel(ROOT / "examples" / "scripts" / "incident.yaml") if mode == "scripted" else None
    runner = Runner(model=model, bundled=lambda quota: server_for(site, user="sre", quota=quota), budget=None)
    result = await runner.execute(RunRequest(workflow="incident", inputs=ALERT, model=None if model else "none"))
    if result.record.terminal_reason != "completed":
        raise RuntimeError(f"the {mode} run on {flavor} ended {result.record.terminal_reason}: {result.record.error}")
    return requestlog.read(log)


async def main() -> None:
    counts: dict[tuple[str, str], int] = {}
    with tempfile.TemporaryDirectory() as state:
        os.environ["AGENTFLOW_STATE_DIR"] = state
        print(f"{'flavor':<7} {'model':<9} {'requests':>8} {'before':>7}  paths")
        for flavor in ("cloud", "dc"):
            for mode in ("none", "scripted"):
                sent = await requests_of(flavor, mode, Path(state))
                counts[flavor, mode] = len(sent)
                calls = Counter(f"{line['method']} {line['path']}" for line in sent)
                paths = ", ".join(f"{call} x{n}" if n > 1 else call for call, n in calls.items())
                print(f"{flavor:<7} {mode:<9} {len(sent):>8} {BEFORE[mode]:>7}  {paths}")
    worst = {mode: max(counts[flavor, mode] for flavor in ("cloud", "dc")) for mode in BEFORE}
    verdict = "within" if max(worst.values()) <= TARGET else "OVER"
    print(
        f"\nAtlassian requests per incident run (none, scripted): {worst['none']}, {worst['scripted']} — was "
        f"{BEFORE['none']}, {BEFORE['scripted']} ({verdict} the target of at most {TARGET})"
    )


if __name__ == "__main__":
    asyncio.run(main())
