"""The one tool-call path: each branch of the gate, for the model's calls and gather steps alike."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import pytest

from agentflow import audit
from agentflow.atlassian.testing import server_for
from agentflow.budget import Budget, Settings
from agentflow.changes.plan import Stager
from agentflow.errors import ServerError
from agentflow.host.gate import Gate
from agentflow.host.servers import Host
from agentflow.host.specs import ServerSpec
from agentflow.host.toolbox import build_toolbox
from agentflow.ledger import SQLiteLedger
from agentflow.metering import Metering
from agentflow.runs import CallStatus, status_for
from agentflow.sandbox.site import Site
from agentflow.workflow.schema import WritesSpec
from tests.conftest import SLOW_MACHINE_SECONDS

pytestmark = pytest.mark.anyio
ECHO = str(Path(__file__).parent / "servers" / "echo_server.py")
WAIT = SLOW_MACHINE_SECONDS
WHO = audit.Actor(actor="sam", trigger="cli", run_id="run-gate", workflow="bug-triage")
# Boxes generous enough for a loaded machine: a start or a call that merely comes late must not fail a test.
BUNDLED = ServerSpec(name="atlassian", transport="bundled", startup_timeout=WAIT / 2)
ECHO_SPEC = ServerSpec(name="echo", transport="stdio", command=sys.executable, args=[ECHO],
                       startup_timeout=WAIT / 2, call_timeout=WAIT / 2)  # fmt: skip
ALLOWED = ["get_jira_issue", "add_jira_comment", "echo", "fail", "slow", "crash"]


def audited() -> list[dict]:
    return [
        {k: v for k, v in line.items() if k not in ("time", "duration_ms")} for line in audit.read(run_id=WHO.run_id)
    ]


class Gates:
    """A host with the bundled server (on an in-process sandbox) and the echo server, and gates over it."""

    def __init__(self, host: Host, metering: Metering) -> None:
        self.host, self.metering = host, metering
        self.toolbox = build_toolbox(host.tools(), ALLOWED)

    def new(self, writes: str = "staged") -> Gate:
        stager = Stager(WritesSpec(mode=writes))
        return Gate(self.host, self.metering, who=WHO, toolbox=self.toolbox, stager=stager)


async def with_gates(body, per_hour: int = 500, echo: ServerSpec = ECHO_SPEC) -> None:
    budget = Budget(SQLiteLedger(":memory:"), Settings(per_hour=per_hour))
    metering = Metering.plan([BUNDLED, echo], budget, site=None, priority="interactive", who=WHO, cap=40)
    site = Site.open("cloud")
    with anyio.fail_after(WAIT):
        async with Host([BUNDLED, echo], bundled=lambda quota: server_for(site, quota=quota),
                        quota=metering.bundled) as host:  # fmt: skip
            await body(Gates(host, metering))


async def test_an_unknown_tool_or_one_outside_the_allowlist_is_refused_and_nothing_is_called():
    async def body(gates: Gates) -> None:
        outcome = await gates.new().call("delete_everything", {})
        assert outcome.status == CallStatus.REFUSED and outcome.is_error
        assert outcome.text.startswith("There is no tool named delete_everything. The tools are: get_jira_issue")
        assert "search_jira_issues" in {tool.name for tool in gates.host.tools()}  # offered, but not allowed
        outside = await gates.new().call("search_jira_issues", {"jql": "project = PAY"})
        assert outside.status == CallStatus.REFUSED and "There is no tool named search_jira_issues" in outside.text

    await with_gates(body)
    lines = audited()  # no server saw them; the audit trail says they were asked for and refused
    assert [(line["tool"], line["outcome"], line["requests"]) for line in lines] == [
        ("delete_everything", "refused", 0), ("search_jira_issues", "refused", 0)
    ]  # fmt: skip


async def test_a_write_is_staged_by_the_model_and_refused_to_a_gather_step():
    async def body(gates: Gates) -> None:
        gate = gates.new()
        staged = await gate.call("add_jira_comment", {"key": "PAY-429", "body": "Looked at it."}, turn=2)
        assert staged.status == CallStatus.STAGED and not staged.is_error and "$1" in staged.text
        assert [(c.tool, c.turn) for c in gate.stager.plan] == [("add_jira_comment", 2)]
        # A tool that does not say it is read-only is treated as a write too.
        unannotated = await gate.call("fail", {"why": "x"})
        assert unannotated.status == CallStatus.STAGED
        from_gather = await gate.call_tool(gates.toolbox.resolve("add_jira_comment"), {"key": "PAY-429", "body": "x"})
        assert from_gather.status == CallStatus.REFUSED and "may not write" in from_gather.text
        none = await gates.new(writes="none").call("add_jira_comment", {"key": "PAY-429", "body": "x"})
        assert none.status == CallStatus.REFUSED and "writes: none" in none.text
        # A gather step calls a tool that says nothing about itself as its author wrote it.
        made = await gate.call_tool(gates.toolbox.resolve("fail"), {"why": "no such runbook"})
        assert made.status == CallStatus.ERROR and "no such runbook" in made.text

    await with_gates(body)
    outcomes = [(line["tool"], line["outcome"], line["requests"]) for line in audited()]
    assert outcomes == [
        ("add_jira_comment", "staged", 0), ("fail", "staged", 0), ("add_jira_comment", "refused", 0),
        ("add_jira_comment", "refused", 0), ("fail", "error", 0),  # the only call that reached a server
    ]  # fmt: skip


async def test_reads_are_made_once_then_answered_from_the_cache_for_model_and_gather_alike():
    async def body(gates: Gates) -> None:
        gate = gates.new()
        first = await gate.call("get_jira_issue", {"key": "PAY-429"})
        again = await gate.call("get_jira_issue", {"key": "PAY-429"})
        gathered = await gate.call_tool(gates.toolbox.resolve("get_jira_issue"), {"key": "PAY-429"})
        assert first.status == CallStatus.OK and first.requests >= 1 and "PAY-429" in first.text
        assert (again.status, again.requests, again.text) == (CallStatus.CACHED, 0, first.text)
        assert (gathered.status, gathered.structured) == (CallStatus.CACHED, first.structured)

    await with_gates(body)
    assert [(line["outcome"], line["requests"] > 0) for line in audited()] == [
        ("ok", True), ("cached", False), ("cached", False)
    ]  # fmt: skip


async def test_a_call_from_the_model_and_from_a_gather_step_leave_the_same_audit_line():
    async def body(gates: Gates) -> None:
        await gates.new().call("get_jira_issue", {"key": "PAY-429"})  # the server reads the field list once
        await gates.new().call("get_jira_issue", {"key": "PAY-388"})
        await gates.new().call_tool(gates.toolbox.resolve("get_jira_issue"), {"key": "PAY-388"})

    await with_gates(body)
    _, model_line, gather_line = audited()
    assert model_line == gather_line and model_line["outcome"] == "ok" and model_line["requests"] >= 1


async def test_results_are_scrubbed_of_secrets_before_anyone_sees_them():
    secret = "sk-ant-" + "k" * 32

    async def body(gates: Gates) -> None:
        outcome = await gates.new().call("echo", {"text": f"the key is {secret}"})
        assert secret not in outcome.text and "[REDACTED]" in outcome.text
        assert outcome.requests == 0  # the echo server reaches no Atlassian site

    await with_gates(body)
    assert secret not in str(audited())


async def test_a_call_without_budget_is_not_made_and_says_so():
    async def body(gates: Gates) -> None:
        gate = gates.new()
        outcome = await gate.call("get_jira_issue", {"key": "PAY-429"})
        assert outcome.status == CallStatus.BUDGET and outcome.is_error and outcome.requests == 1
        assert "the hourly budget for sandbox is used up" in outcome.text and gate.exhausted

    await with_gates(body, per_hour=1)  # a first get needs two requests (/field, the issue): one is sent
    [line] = audited()
    assert line["outcome"] == "budget"


@pytest.mark.parametrize(("tool", "arguments", "call_timeout", "reason", "status"), [
    ("slow", {"seconds": 3600}, 1, "did not answer within 1 s", CallStatus.TIMEOUT),  # it can never answer in the box
    ("crash", {}, ECHO_SPEC.call_timeout, "about to crash: out of cheese", CallStatus.FAILED),
], ids=["times-out", "dies"])  # fmt: skip
async def test_a_server_that_times_out_or_dies_raises_and_is_audited_so(tool, arguments, call_timeout, reason, status):
    async def body(gates: Gates) -> None:
        with pytest.raises(ServerError, match=reason) as raised:
            await gates.new().execute("echo", tool, arguments)
        assert status_for(raised.value) == status  # what the run record will say of it

    await with_gates(body, echo=ECHO_SPEC.model_copy(update={"call_timeout": call_timeout}))
    [line] = audited()
    assert line["outcome"] == status and line["tool"] == tool
