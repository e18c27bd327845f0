"""The budget and the audit trail inside real runs; secrets kept out of everything a run leaves behind."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentflow import audit, runs
from agentflow.agent.models import Model, Turn
from agentflow.agent.scripted import ScriptedModel
from agentflow.atlassian.testing import server_for
from agentflow.budget import Budget, Settings
from agentflow.cli import app
from agentflow.errors import BudgetDeferred
from agentflow.ledger import SQLiteLedger
from agentflow.runner import Runner, RunRequest
from agentflow.sandbox.site import Site
from tests.conftest import SLOW_MACHINE_SECONDS

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parent.parent
CANARY = "canary-7f3a9c2e5b1d4086"


def tool(name: str, **arguments) -> dict:
    return {"type": "tool_use", "name": name, "input": arguments}


def answer_triage() -> dict:
    return tool("submit_result", triage=[{
        "key": "PAY-429", "summary": "NPE", "probable_cause": "unknown", "component": "Payments API",
        "evidence": [], "similar": [], "next_step": "read the trace", "confidence": "low"}])  # fmt: skip


class Reader(Model):
    """Reads one issue after another until only submit_result is left to it, then answers."""

    name = "reader"

    def __init__(self) -> None:
        self.calls: list[dict] = []

    async def turn(self, *, system, messages, tools, max_tokens) -> Turn:
        self.calls.append({"system": system, "messages": messages})
        if [t.name for t in tools] == ["submit_result"]:
            block = {**answer_triage(), "id": "toolu_answer"}
            return Turn(content=[block], stop_reason="tool_use")
        key = f"PAY-{388 + len(self.calls)}"
        block = {"type": "tool_use", "id": f"toolu_{len(self.calls)}", "name": "get_jira_issue", "input": {"key": key}}
        return Turn(content=[block], stop_reason="tool_use")


async def test_the_budget_running_out_mid_run_ends_it_with_budget_and_a_report():
    budget = Budget(SQLiteLedger(":memory:"), Settings(per_hour=5))
    script = Reader()
    site = Site.open("cloud")
    runner = Runner(model=script, bundled=lambda quota: server_for(site, quota=quota), budget=budget)
    record = (await runner.execute(RunRequest(workflow="bug-triage", inputs={"keys": "PAY-429"}))).record
    assert record.terminal_reason == "budget"
    assert record.output is not None and record.report and "PAY-429" in record.report
    assert "budget" in {c.status for c in record.tool_calls}
    assert budget.status("sandbox")["used"] == 5  # every request reserved before it was sent, never one more
    assert "may make 5 Atlassian HTTP requests" in script.calls[0]["system"]
    assert "No more Atlassian requests can be made" in str(script.calls[-1]["messages"])


async def test_a_batch_run_that_does_not_fit_is_deferred_with_when_it_would(project):
    budget = Budget(SQLiteLedger(":memory:"), Settings(per_hour=100))
    budget.reserve("sandbox", 60, "interactive")
    runner = Runner(model=None, bundled=lambda quota: server_for(Site.open("cloud"), quota=quota), budget=budget)
    with pytest.raises(BudgetDeferred, match="needs 120 Atlassian requests and batch work may use 20") as caught:
        await runner.execute(RunRequest(workflow="backlog-grooming", inputs={"project": "PROD"}, model="none"))
    assert caught.value.retry_at == float("inf")  # 120 can never fit in a batch share of 80
    [record] = runs.list_runs(workflow="backlog-grooming")
    assert record.terminal_reason == "deferred"


def test_deferral_exits_3_from_the_command_line(monkeypatch):
    monkeypatch.setenv("AGENTFLOW_BUDGET_PER_HOUR", "100")
    result = CliRunner().invoke(app, ["run", "backlog-grooming", "project=PROD", "--model", "none"])
    assert result.exit_code == 3
    assert "deferred: backlog-grooming needs 120 Atlassian requests and batch work may use 80" in result.stderr


async def test_an_interactive_run_starts_with_what_is_left_and_says_so():
    budget = Budget(SQLiteLedger(":memory:"), Settings(per_hour=10))
    budget.reserve("sandbox", 6, "interactive")
    runner = Runner(model=None, bundled=lambda quota: server_for(Site.open("cloud"), quota=quota), budget=budget)
    result = await runner.execute(RunRequest(workflow="incident", inputs={"alert": "pool"}, model="none"))
    assert "Started with 4 of its 40 Atlassian requests" in result.record.report


async def test_every_tool_call_is_audited():
    script = ScriptedModel(ROOT / "examples" / "scripts" / "incident.yaml")
    runner = Runner(model=script, bundled=lambda quota: server_for(Site.open("cloud"), quota=quota), budget=None)
    record = (await runner.execute(RunRequest(workflow="incident", inputs={"alert": "pool"}, actor="sam"))).record
    lines = list(audit.read(run_id=record.id))
    assert [(line["tool"], line["outcome"]) for line in lines] == [
        ("search_confluence_pages", "ok"),
        ("search_jira_issues", "ok"),
        ("get_compass_component", "ok"),
        ("get_compass_component", "cached"),  # the model's call, answered from the run's cache: audited too
    ]
    first = lines[0]
    assert first["actor"] == "sam" and first["trigger"] == "cli" and first["workflow"] == "incident"
    assert first["outcome"] == "ok" and first["requests"] >= 1 and len(first["result_sha256"]) == 64
    assert oct(audit.log_path().stat().st_mode & 0o777) == "0o600"
    shown = CliRunner().invoke(app, ["audit", "--run", record.id, "--since", "1h", "--json"])
    assert shown.exit_code == 0
    assert [json.loads(line)["tool"] for line in shown.stdout.splitlines()] == [line["tool"] for line in lines]
    assert CliRunner().invoke(app, ["audit", "--since", "soon"]).exit_code == 2


async def test_a_canary_token_never_reaches_records_audit_errors_logs_or_the_model(project, tmp_path, monkeypatch,
                                                                                  capsys):  # fmt: skip
    """The canary is configured as a site token; a tool echoes it back; it must appear nowhere."""
    echo = ROOT / "tests" / "host" / "servers" / "echo_server.py"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[sites.eng]\nurl = "https://eng.atlassian.net"\nemail = "a@b.c"\ntoken = "{CANARY}"\n'
        f'[servers.echo]\ncommand = "{sys.executable}"\nargs = ["{echo}"]\nstartup_timeout = {SLOW_MACHINE_SECONDS}\n'
    )
    monkeypatch.setenv("AGENTFLOW_CONFIG", str(config))
    monkeypatch.setenv("SERVICE_API_KEY", "sk-ant-" + "x" * 30)
    project.workflow(
        "leaky",
        """\
        name: leaky
        title: Echoes secrets
        servers: [echo]
        tools: [echo]
        agent: {prompt: minimal.md.j2}
        output: {schema: {type: object, properties: {said: {type: string}}}}
        """,
    )
    script = ScriptedModel.from_turns(
        [
            [tool("echo", text=f"the token is {CANARY}, auth: Authorization: Bearer {CANARY}")],
            [tool("submit_result", said=f"I saw {CANARY}")],
        ]
    )
    result = await Runner(model=script).execute(RunRequest(workflow="leaky"))
    logging.getLogger("agentflow.test").warning("request failed with token %s", CANARY)
    from agentflow.redact import RedactingFormatter

    formatted = RedactingFormatter().format(
        logging.LogRecord("x", logging.WARNING, __file__, 1, "header %s", (f"Bearer {CANARY}",), None)
    )
    # what agentflow sent the model (its own tool_use inputs are the script's words, not something it was told)
    seen_by_model = json.dumps([[m for m in call.messages if m["role"] == "user"] for call in script.calls])
    everything = {
        "record": result.path.read_text(),
        "audit": audit.log_path().read_text(),
        "model": seen_by_model,
        "log": formatted,
    }
    for place, text in everything.items():
        assert CANARY not in text, place
    assert "[REDACTED]" in everything["model"] and "[REDACTED]" in everything["record"]
    assert "sk-ant-xxxx" not in everything["record"]
    from agentflow.cli.base import print_error
    from agentflow.errors import ServerStartError

    print_error(ServerStartError("echo", "bad credentials", f"401 for token {CANARY}"))
    assert CANARY not in capsys.readouterr().err


def test_budget_and_audit_commands_show_a_real_runs_calls():
    script = ROOT / "examples" / "scripts" / "incident.yaml"
    cli = CliRunner()
    ran = cli.invoke(app, ["run", "incident", "alert=pool exhausted", "--model", f"script:{script}", "--quiet"])
    assert ran.exit_code == 0, ran.stderr
    [status] = json.loads(cli.invoke(app, ["budget", "--json"]).stdout)
    assert status["site"] == "sandbox" and status["used"] == 4 and status["limit"] == 500
    assert status["consumers"][0]["workflow"] == "incident"
    shown = cli.invoke(app, ["budget"])
    assert "sandbox" in shown.stdout and "/ 500 requests in the last hour" in shown.stdout
    calls = [json.loads(line) for line in cli.invoke(app, ["audit", "--json"]).stdout.splitlines()]
    assert {c["tool"] for c in calls} == {"search_confluence_pages", "search_jira_issues", "get_compass_component"}
