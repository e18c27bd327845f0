"""The gate's budget for every kind of server: the bundled one meters itself, another Atlassian server is
reserved per call by its estimate, one that meters itself is counted once, any other costs nothing. Real
`agentflow mcp serve` processes share the quota with runs through the one ledger in the state directory."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters
from typer.testing import CliRunner

from agentflow import audit
from agentflow.atlassian.testing import server_for
from agentflow.budget import Budget, Settings
from agentflow.cli import app
from agentflow.errors import ConfigError
from agentflow.host.gate import Gate
from agentflow.host.servers import Host
from agentflow.host.specs import ServerSpec, load_server_specs
from agentflow.ledger import SQLiteLedger
from agentflow.metering import Metering
from agentflow.runner import Runner, RunRequest
from agentflow.runs import CallStatus
from agentflow.sandbox.site import Site
from tests.conftest import SLOW_MACHINE_SECONDS

pytestmark = pytest.mark.anyio
ECHO = str(Path(__file__).parent / "host" / "servers" / "echo_server.py")
WHO = audit.Actor(actor="sam", trigger="cli", run_id="run-1", workflow="incident")
WAIT = SLOW_MACHINE_SECONDS
START = WAIT / 2  # a child's start-up box: `python -m agentflow` takes seconds to import on a loaded machine


def state_dir() -> Path:
    return Path(os.environ["AGENTFLOW_STATE_DIR"])


def shared_budget(per_hour: int = 500) -> Budget:
    """The ledger every process of this test's state directory uses."""
    return Budget(SQLiteLedger(state_dir() / "budget.db"), Settings(per_hour=per_hour))


def mcp_serve(*options: str, **settings) -> ServerSpec:
    """`agentflow mcp serve` as a stdio server another host would start, on the state directory's sandbox."""
    env = {"AGENTFLOW_STATE_DIR": "${AGENTFLOW_STATE_DIR}", "AGENTFLOW_CONFIG": "${AGENTFLOW_CONFIG}"}
    args = ["-m", "agentflow", "mcp", "serve", "--site", "sandbox", *options]
    settings.setdefault("startup_timeout", START)
    return ServerSpec(name="other", transport="stdio", command=sys.executable, args=args, env=env, **settings)


async def call_once(spec: ServerSpec, budget: Budget, tool: str, arguments: dict) -> tuple:
    metering = Metering.plan([spec], budget, site=None, priority="interactive", who=WHO, cap=40)
    with anyio.fail_after(WAIT):
        async with Host([spec], quota=metering.bundled) as host:
            outcome = await Gate(host, metering, who=WHO).execute(spec.name, tool, arguments)
    return outcome, metering


async def test_another_atlassian_server_is_reserved_by_its_estimate_and_charged_what_it_reports():
    budget = shared_budget()
    spec = mcp_serve("--no-budget", site="sandbox", requests_per_call=3)
    outcome, metering = await call_once(spec, budget, "get_jira_issue", {"key": "PAY-429"})
    assert not outcome.is_error and outcome.requests == 2  # it reported /field and the issue
    assert budget.status("sandbox")["used"] == 2 == metering.allowance.used
    [line] = audit.read(run_id="run-1")
    assert line["requests"] == 2 and line["server"] == "other"


@pytest.mark.parametrize("declared", [True, False], ids=["meters_itself", "says-so-in-its-results"])
async def test_a_server_that_meters_itself_is_counted_once(declared):
    budget = shared_budget()
    spec = mcp_serve(site="sandbox", requests_per_call=3, meters_itself=declared)
    outcome, metering = await call_once(spec, budget, "get_jira_issue", {"key": "PAY-429"})
    assert outcome.requests == 2
    assert budget.status("sandbox")["used"] == 2  # the child's own reservations; the gate's given back
    consumers = {(c.workflow, c.requests) for c in budget.status("sandbox")["consumers"]}
    assert consumers == {("mcp serve", 2)}
    assert metering.allowance.used == 2  # and the run's own cap counts them


async def test_a_server_said_to_meter_itself_that_does_not_is_charged_after_the_fact():
    budget = shared_budget()
    spec = mcp_serve("--no-budget", site="sandbox", meters_itself=True)
    outcome, _ = await call_once(spec, budget, "get_jira_issue", {"key": "PAY-429"})
    assert outcome.requests == 2
    assert budget.status("sandbox")["used"] == 2
    assert [(c.workflow, c.requests) for c in budget.status("sandbox")["consumers"]] == [("incident", 2)]


async def test_a_server_metering_in_another_ledger_is_charged_in_ours(tmp_path):
    budget = shared_budget()
    elsewhere = mcp_serve(site="sandbox", meters_itself=True)
    elsewhere = elsewhere.model_copy(update={"env": {**elsewhere.env, "AGENTFLOW_STATE_DIR": str(tmp_path)}})
    outcome, _ = await call_once(elsewhere, budget, "get_jira_issue", {"key": "PAY-429"})
    assert outcome.requests == 2
    assert [(c.workflow, c.requests) for c in budget.status("sandbox")["consumers"]] == [("incident", 2)]
    theirs = Budget(SQLiteLedger(tmp_path / "budget.db"), Settings())
    assert [(c.workflow, c.requests) for c in theirs.status("sandbox")["consumers"]] == [("mcp serve", 2)]


async def test_parallel_calls_cannot_overshoot_the_runs_cap():
    budget = shared_budget()
    spec = mcp_serve(site="sandbox", meters_itself=True, requests_per_call=2)
    metering = Metering.plan([spec], budget, site=None, priority="interactive", who=WHO, cap=3)
    answered: list[bool] = []

    async def one(gate: Gate) -> None:
        outcome = await gate.execute("other", "search_jira_issues", {"jql": "project = PAY"})
        answered.append(outcome.status == CallStatus.OK)

    with anyio.fail_after(WAIT):
        async with Host([spec]) as host:
            gate = Gate(host, metering, who=WHO)
            async with anyio.create_task_group() as group:
                for _ in range(5):
                    group.start_soon(one, gate)
    # each call holds its estimate of 2 before it starts: one fits in the cap of 3 at a time
    assert sorted(answered) == [False] * 4 + [True]
    assert metering.allowance.used == 1 == budget.status("sandbox")["used"]  # what the search sent, not the 2 held


def test_applying_spends_as_the_approver_outside_the_runs_cap():
    budget = shared_budget()
    specs = [ServerSpec(name="atlassian", transport="bundled"), mcp_serve(site="sandbox")]
    metering = Metering.plan(specs, budget, site=None, priority="batch", who=WHO, cap=5)
    metering.rebind("sam (writes policy)")
    assert metering.allowance is None
    for quota in metering.quotas():
        assert quota.allowance is None and quota.attribution["actor"] == "sam (writes policy)"
        quota.reserve(7)  # more than the run's cap of 5


async def test_the_runs_cap_holds_for_a_server_that_meters_itself():
    budget = shared_budget()
    spec = mcp_serve(site="sandbox", meters_itself=True)
    metering = Metering.plan([spec], budget, site=None, priority="interactive", who=WHO, cap=3)
    with anyio.fail_after(WAIT):
        async with Host([spec]) as host:
            gate = Gate(host, metering, who=WHO)
            await gate.execute("other", "get_jira_issue", {"key": "PAY-429"})  # 2 of the 3
            await gate.execute("other", "search_jira_issues", {"jql": "project = PAY"})  # 1 more
            refused = await gate.execute("other", "search_jira_issues", {"jql": "project = OPS"})
    assert refused.status == CallStatus.BUDGET and refused.is_error
    assert "this run's budget of 3 Atlassian requests is spent" in refused.text and gate.exhausted
    assert metering.allowance.used == 3 and budget.status("sandbox")["used"] == 3


async def test_a_server_that_reaches_no_atlassian_site_costs_nothing():
    budget = shared_budget()
    spec = ServerSpec(name="echo", transport="stdio", command=sys.executable, args=[ECHO], startup_timeout=START)
    metering = Metering.plan([spec], budget, site=None, priority="interactive", who=WHO, cap=40)
    assert metering.allowance is None and metering.bundled is None
    with anyio.fail_after(WAIT):
        async with Host([spec]) as host:
            outcome = await Gate(host, metering, who=WHO).execute("echo", "echo", {"text": "hi"})
    assert outcome.text == "hi" and outcome.requests == 0
    assert budget.ledger.sites(budget.clock()) == []


async def test_the_gate_refuses_a_call_whose_estimate_does_not_fit():
    budget = shared_budget(per_hour=4)
    budget.reserve("sandbox", 2, "interactive")
    spec = mcp_serve("--no-budget", site="sandbox", requests_per_call=3)
    refused, _ = await call_once(spec, budget, "get_jira_issue", {"key": "PAY-429"})
    assert refused.status == CallStatus.BUDGET and "used up for interactive work" in refused.text
    [line] = audit.read(run_id="run-1")
    assert line["outcome"] == "budget" and line["requests"] == 0


def test_budget_settings_of_servers_are_checked():
    for table, message in [
        ({"transport": "bundled", "site": "eng"}, "the bundled server meters every request"),
        ({"url": "https://mcp.example.com/mcp", "requests_per_call": 0}, "requests_per_call"),
        ({"command": "x", "meters_itself": "yes", "site": "eng"}, "meters_itself"),
        ({"command": "x", "requests_per_call": "3", "site": "eng"}, "requests_per_call"),
        ({"command": "x", "requests_per_call": 3}, "requests_per_call need site"),
        ({"command": "x", "meters_itself": True}, "meters_itself need site"),
    ]:
        with pytest.raises(ConfigError, match=message):
            load_server_specs({"servers": {"x": table}})
    specs = load_server_specs({"mcpServers": {"rovo": {"url": "https://mcp.example.com/mcp", "site": "eng",
                                                        "requests_per_call": 2}}})  # fmt: skip
    assert (specs["rovo"].site, specs["rovo"].requests_per_call, specs["rovo"].meters_itself) == ("eng", 2, False)


# --- one quota for people's MCP clients and agentflow's runs --------------------------------------------------


def serve_params(actor: str) -> StdioServerParameters:
    keep = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    env = {**keep, "AGENTFLOW_STATE_DIR": str(state_dir()), "AGENTFLOW_CONFIG": os.environ["AGENTFLOW_CONFIG"],
           "AGENTFLOW_BUDGET_PER_HOUR": "7"}  # fmt: skip
    return StdioServerParameters(command=sys.executable, args=["-m", "agentflow", "mcp", "serve", "--actor", actor],
                                 env=env)  # fmt: skip


async def test_two_mcp_serve_processes_and_a_run_share_one_hourly_quota(monkeypatch):
    monkeypatch.setenv("AGENTFLOW_BUDGET_PER_HOUR", "7")
    with anyio.fail_after(WAIT):
        async with Client(serve_params("alice")) as alice, Client(serve_params("bob")) as bob:
            assert not (await alice.call_tool("get_jira_issue", {"key": "PAY-429"})).is_error  # 2 requests
            assert not (await bob.call_tool("get_jira_issue", {"key": "OPS-141"})).is_error  # 2 more
            site = Site.open("cloud", state_dir() / "sandbox.db")
            runner = Runner(model=None, bundled=lambda quota: server_for(site, quota=quota), budget=shared_budget(7))
            result = await runner.execute(RunRequest(workflow="incident", inputs={"alert": "pool"}, actor="carol"))
            refused = await alice.call_tool("search_jira_issues", {"jql": "project = OPS"})
    assert result.record.terminal_reason == "budget"  # it started with the 3 that were left
    assert refused.is_error and refused.meta["agentflow/budget"] == "exhausted"
    assert "the hourly budget for sandbox is used up for interactive work (7 of 7)" in refused.content[0].text
    shown = json.loads(CliRunner().invoke(app, ["budget", "--json"]).stdout)
    [status] = shown
    assert status["used"] == 7 and status["limit"] == 7
    users = {(c["workflow"], c["actor"]): c["requests"] for c in status["consumers"]}
    assert users == {("mcp serve", "alice"): 2, ("mcp serve", "bob"): 2, ("incident", "carol"): 3}


def test_max_wait_must_fit_in_the_bundled_servers_call_timeout():
    budget = Budget(SQLiteLedger(":memory:"), Settings(max_wait=120))
    bundled = ServerSpec(name="atlassian", transport="bundled")
    with pytest.raises(ConfigError, match=r"budget.max_wait \(120 s\) must be shorter than the call_timeout"):
        Metering.plan([bundled], budget, site=None, priority="interactive", who=WHO, cap=10)
    slow = ServerSpec(name="atlassian", transport="bundled", call_timeout=300)
    assert Metering.plan([slow], budget, site=None, priority="interactive", who=WHO, cap=10).bundled is not None


def test_mcp_serve_with_an_unreadable_ledger_says_so_and_exits_2():
    (state_dir()).mkdir(parents=True, exist_ok=True)
    (state_dir() / "budget.db").write_bytes(b"garbage" * 1000)
    result = CliRunner().invoke(app, ["mcp", "serve"])
    assert result.exit_code == 2
    assert "the budget ledger" in result.stderr and "is damaged" in result.stderr and "Traceback" not in result.stderr
