"""The runner end to end: workflow -> bundled server -> sandbox -> scripted model -> report and record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentflow import audit, runs
from agentflow.agent.scripted import ScriptedModel
from agentflow.atlassian.testing import server_for
from agentflow.errors import ConfigError, InputInvalid, ServerStartError
from agentflow.runner import Runner, RunRequest
from agentflow.sandbox.site import Site
from tests.conftest import SLOW_MACHINE_SECONDS

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parent.parent
ALERT = {"alert": "Database connection pool exhaustion"}


def runner(model, flavor: str = "cloud") -> Runner:
    site = Site.open(flavor)
    return Runner(model=model, bundled=lambda quota: server_for(site, user="sre", quota=quota))


def tool(name: str, **arguments) -> dict:
    return {"type": "tool_use", "name": name, "input": arguments}


async def test_incident_with_the_scripted_model_names_the_runbook_and_the_pool_deployment():
    model = ScriptedModel(ROOT / "examples" / "scripts" / "incident.yaml")
    result = await runner(model).execute(RunRequest(workflow="incident", inputs=ALERT, actor="sam"))
    record = result.record
    assert record.terminal_reason == "completed", record.error
    assert record.output["suspects"][0]["key"] == "OPS-141"
    assert "Runbook: Database connection pool exhaustion" in record.report and "OPS-141" in record.report
    steps = ["runbooks", "runbook", "changes", "first_ranking", "component", "suspects"]
    assert [s.id for s in record.steps] == steps
    assert {s.status for s in record.steps} == {"ok"}
    assert [p.status for p in record.plan] == ["done", "done", "done"]
    [compass] = [c for c in record.tool_calls if c.turn == 2]  # the gather step's read, again: from the cache
    assert compass.tool == "get_compass_component" and compass.status == "cached" and compass.requests == 0
    assert record.requests() >= 4 and record.actor == "sam" and record.model.startswith("script:")
    saved = json.loads(result.path.read_text())
    assert saved["id"] == record.id and saved["terminal_reason"] == "completed" and saved["status"] == "finished"
    # the model saw the gathered runbook and deployments in its prompt
    first_prompt = model.calls[0].messages[0]["content"]
    assert "OPS-141" in first_prompt and "Runbook: Database connection pool exhaustion" in first_prompt


async def test_none_mode_runs_the_gather_steps_and_the_report_only():
    result = await runner(None).execute(RunRequest(workflow="incident", inputs=ALERT, model="none"))
    record = result.record
    assert record.terminal_reason == "completed" and record.model == "none" and record.turns == []
    assert "No model ran" in record.report
    assert "Runbook: Database connection pool exhaustion" in record.report and "OPS-141" in record.report


async def test_an_error_result_goes_back_to_the_model_and_writes_are_staged_not_executed(tmp_path):
    script = ScriptedModel.from_turns(
        [
            [tool("get_jira_issue", key="PAY-9999"), tool("add_jira_comment", key="PAY-429", body="triaged")],
            [tool("submit_result", triage=[{
                "key": "PAY-429", "summary": "NPE", "probable_cause": "null currency", "component": "Payments API",
                "evidence": ["PAY-429 trace"], "similar": ["PAY-388"], "next_step": "default the currency",
                "confidence": "high"}])],
        ]
    )  # fmt: skip
    result = await runner(script).execute(RunRequest(workflow="bug-triage", inputs={"keys": "PAY-429"}))
    record = result.record
    assert record.terminal_reason == "completed"
    statuses = {c.tool: c.status for c in record.tool_calls}
    assert statuses["get_jira_issue"] == "error" and statuses["add_jira_comment"] == "staged"
    sent = script.calls[1].messages[-1]["content"]
    assert "Issue does not exist" in sent[0]["content"] and sent[0]["is_error"] is True
    assert (
        "Staged as change $1" in sent[1]["content"]
        and "Nothing is written until a person approves" in sent[1]["content"]
    )
    [change] = record.changes
    assert (change.tool, change.target, change.summary) == ("add_jira_comment", "PAY-429", "comment: triaged")
    assert "## Changes" in record.report and f"agentflow apply {record.id}" in record.report
    assert "| $1 | add_jira_comment | PAY-429 | comment: triaged | staged |" in record.report
    site_issue = next(c for c in record.tool_calls if c.tool == "get_jira_issue")
    assert site_issue.server == "atlassian"


async def test_a_limit_still_ends_with_a_report_and_its_reason(project):
    project.prompt("p.md.j2", "Find PAY-429.\n")
    project.workflow(
        "limited",
        """\
        name: limited
        title: Limited
        tools: [get_jira_issue]
        agent: {prompt: p.md.j2, max_turns: 1}
        output: {schema: {type: object, properties: {answer: {type: string}}}}
        """,
    )
    script = ScriptedModel.from_turns(
        [[tool("get_jira_issue", key="PAY-429")], [tool("submit_result", answer="partial")]]
    )
    record = (await runner(script).execute(RunRequest(workflow="limited"))).record
    assert record.terminal_reason == "max_turns" and record.output == {"answer": "partial"}
    assert record.report and "partial" in record.report


NOTED = """\
name: noted
title: Noted
tools: [get_jira_issue]
agent: {prompt: minimal.md.j2, max_turns: 2}
output:
  schema:
    type: object
    required: [answer]
    properties: {answer: {type: string}, note: {type: string}}
  report: noted.report.md.j2
"""


def noted(project) -> None:
    """A user workflow whose report template assumes that the optional `note` is always there."""
    project.prompt("noted.report.md.j2", "# {{ output.answer }}\n\n{{ output.note }}\n")
    project.workflow("noted", NOTED)


async def test_a_report_template_that_cannot_render_a_valid_answer_fails_the_run_and_keeps_the_answer(project):
    noted(project)
    script = ScriptedModel.from_turns([[tool("submit_result", answer="forty-two")]])
    result = await runner(script).execute(RunRequest(workflow="noted"))
    record = result.record
    assert record.terminal_reason == "report_error" and not record.succeeded
    assert record.output == {"answer": "forty-two"}
    assert record.error == "prompts/noted.report.md.j2:3: undefined: 'dict object' has no attribute 'note'"
    assert "> The report template failed, so the answer is shown as JSON: prompts/noted.report.md.j2:3" in record.report
    assert '```json\n{\n  "answer": "forty-two"\n}\n```' in record.report
    saved = json.loads(result.path.read_text())
    assert saved["terminal_reason"] == "report_error" and saved["output"] == {"answer": "forty-two"}


async def test_a_failing_report_template_does_not_hide_why_the_run_ended(project):
    noted(project)
    script = ScriptedModel.from_turns(
        [
            [tool("get_jira_issue", key="PAY-429")],
            [tool("get_jira_issue", key="PAY-430")],
            [tool("submit_result", answer="partial")],
        ]
    )
    record = (await runner(script).execute(RunRequest(workflow="noted"))).record
    assert record.terminal_reason == "max_turns" and record.output == {"answer": "partial"}
    assert "prompts/noted.report.md.j2:3: undefined: 'dict object' has no attribute 'note'" in record.error


async def test_bad_inputs_and_missing_servers_are_configuration_errors(project):
    with pytest.raises(InputInvalid, match="missing required input 'alert'"):
        await runner(None).execute(RunRequest(workflow="incident"))
    project.workflow(
        "elsewhere",
        """\
        name: elsewhere
        title: Needs GitHub
        servers: [github]
        agent: {prompt: minimal.md.j2}
        output: {schema: {type: object}}
        """,
    )
    with pytest.raises(ConfigError, match="names the MCP server 'github', which is not configured"):
        await runner(None).execute(RunRequest(workflow="elsewhere"))


async def test_a_server_that_cannot_start_is_recorded_and_named(project, tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text('[servers.broken]\ncommand = "/does/not/exist"\nstartup_timeout = 5\n')
    monkeypatch.setenv("AGENTFLOW_CONFIG", str(config))
    project.workflow(
        "broken",
        """\
        name: broken
        title: Broken server
        servers: [broken]
        agent: {prompt: minimal.md.j2}
        output: {schema: {type: object}}
        """,
    )
    with pytest.raises(ServerStartError, match="MCP server 'broken' did not start"):
        await runner(None).execute(RunRequest(workflow="broken"))
    [record] = runs.list_runs(workflow="broken")
    assert record.terminal_reason == "server_error" and record.status == "finished"


async def test_the_real_anthropic_sdk_drives_a_run_over_its_wire_format():
    """AnthropicModel through the SDK, the Messages API served by httpx2.MockTransport: the loop's history
    (tool_use, tool_result, is_error) must be what the API accepts, turn after turn."""
    import httpx2

    from agentflow.agent.anthropic import AnthropicModel

    seen: list[dict] = []

    def reply(content: list[dict], stop: str) -> dict:
        return {"id": f"msg_{len(seen)}", "type": "message", "role": "assistant", "model": "claude-sonnet-5-5",
                "content": content, "stop_reason": stop, "stop_sequence": None,
                "usage": {"input_tokens": 1200, "output_tokens": 80, "cache_read_input_tokens": 1000,
                          "cache_creation_input_tokens": 0}}  # fmt: skip

    def handler(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        seen.append(body)
        if len(seen) == 1:
            return httpx2.Response(200, json=reply([
                {"type": "text", "text": "Checking both issues."},
                {"type": "tool_use", "id": "toolu_a", "name": "get_jira_issue", "input": {"key": "PAY-429"}},
                {"type": "tool_use", "id": "toolu_b", "name": "get_jira_issue", "input": {"key": "NOPE-1"}},
            ], "tool_use"))  # fmt: skip
        answer = {"triage": [{"key": "PAY-429", "summary": "NPE", "probable_cause": "null currency",
                              "component": "Payments API", "evidence": ["trace"], "similar": ["PAY-388"],
                              "next_step": "default the currency", "confidence": "high"}]}  # fmt: skip
        return httpx2.Response(
            200,
            json=reply([{"type": "tool_use", "id": "toolu_s", "name": "submit_result", "input": answer}], "tool_use"),
        )

    client = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    model = AnthropicModel("claude-sonnet-5-5", api_key="sk-test", http_client=client, max_retries=0)
    record = (await runner(model).execute(RunRequest(workflow="bug-triage", inputs={"keys": "PAY-429"}))).record
    assert record.terminal_reason == "completed" and record.output["triage"][0]["key"] == "PAY-429"
    history = seen[1]["messages"]
    assert [m["role"] for m in history] == ["user", "assistant", "user"]
    results = history[2]["content"]
    assert [r["tool_use_id"] for r in results] == ["toolu_a", "toolu_b"]
    assert results[1]["is_error"] is True and "Issue does not exist" in results[1]["content"]
    assert seen[0]["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert {t["name"] for t in seen[0]["tools"]} >= {"get_jira_issue", "update_plan", "submit_result"}
    assert record.usage.cache_read_input_tokens == 2000 and record.cost_usd is not None


async def test_a_server_that_dies_mid_run_ends_it_with_server_error(project, tmp_path, monkeypatch):
    import sys

    echo = ROOT / "tests" / "host" / "servers" / "echo_server.py"
    config = tmp_path / "config.toml"
    # Two servers: the crash of one must not end the other's slow call before the run cancels it.
    config.write_text("".join(
        f'[servers.{name}]\ncommand = "{sys.executable}"\nargs = ["{echo}"]\nstartup_timeout = {SLOW_MACHINE_SECONDS}\n'
        for name in ("echo", "other")
    ))  # fmt: skip
    monkeypatch.setenv("AGENTFLOW_CONFIG", str(config))
    project.workflow(
        "crashy",
        """\
        name: crashy
        title: Crashes
        servers: [echo, other]
        tools: [echo.crash, other.slow]
        agent: {prompt: minimal.md.j2}
        output: {schema: {type: object}}
        """,
    )
    # The crash fails the turn while a slow sibling is still out: that one is cancelled, not left running.
    script = ScriptedModel.from_turns([[tool("crash"), tool("slow", seconds=60)], [tool("submit_result")]])
    record = (await Runner(model=script).execute(RunRequest(workflow="crashy"))).record
    assert record.terminal_reason == "server_error" and "echo" in record.error
    assert record.report is not None
    statuses = {call.tool: call.status for call in record.tool_calls}
    assert statuses == {"crash": "failed", "slow": "cancelled"}
    assert "out of cheese" in next(c.preview for c in record.tool_calls if c.tool == "crash")
    audited = {line["tool"]: line["outcome"] for line in audit.read(record.id)}
    assert audited == statuses  # the record and the audit trail tell the same story


async def test_each_call_keeps_the_hash_of_its_whole_result_and_its_inputs_whole():
    long_summary = "Checkout fails " + "x" * 6000
    script = ScriptedModel.from_turns([
        [tool("get_jira_issue", key="PAY-429"), tool("create_jira_issue", project="PAY", summary=long_summary)],
        [tool("submit_result", summary="s", likely_cause="c", evidence=[], next_steps=[])],
    ])  # fmt: skip
    record = (await runner(script).execute(RunRequest(workflow="bug-triage", inputs={"keys": "PAY-429"}))).record
    read = next(c for c in record.tool_calls if c.tool == "get_jira_issue")
    lines = [line for line in audit.read(record.id) if line["tool"] == "get_jira_issue"]
    assert read.result_sha256 and read.result_sha256 == lines[-1]["result_sha256"]
    called = [step for step in record.steps if step.status == "ok" and not step.tool.startswith("compute:")]
    assert called and all(step.result_sha256 for step in called)
    staged = next(c for c in record.tool_calls if c.tool == "create_jira_issue")
    assert staged.arguments["summary"] == long_summary  # what a replay needs, never cut


async def test_a_run_reads_the_config_file_once_and_resolves_its_site_once(monkeypatch):
    from agentflow import config
    from agentflow import runner as runner_module
    from agentflow.atlassian import sites
    from agentflow.host import servers

    reads, resolved = [], []
    real_load, real_resolve = config.load_config, sites.resolve_site

    def load() -> dict:
        reads.append(1)
        return real_load()

    def resolve(*args, **kwargs):
        resolved.append(args)
        return real_resolve(*args, **kwargs)

    for module in (runner_module, sites):
        monkeypatch.setattr(module, "load_config", load)
    for module in (runner_module, servers):
        monkeypatch.setattr(module, "resolve_site", resolve)
    result = await Runner(model=None).execute(RunRequest(workflow="incident", inputs=ALERT))
    assert result.record.terminal_reason == "completed" and "OPS-141" in result.record.report
    assert len(reads) == 1 and len(resolved) == 1


async def test_a_project_key_that_is_a_reserved_jql_word_is_quoted_by_the_workflows():
    # A site's project DO (or IF, SET, AS): unquoted, Jira refuses the whole query as a reserved word.
    record = (await runner(None).execute(RunRequest(workflow="backlog-grooming", inputs={"project": "DO"}))).record
    [search] = [step for step in record.steps if step.tool == "search_jira_issues"]
    assert "The value 'DO' does not exist for the field 'project'" in (search.error or "")
    assert "reserved" not in (search.error or "")


READER = """\
name: reader
title: Reader
tools: [get_jira_issue]
steps:
  - {id: issue, tool: get_jira_issue, args: {key: PAY-429}}
agent: {prompt: reader.md.j2, max_turns: 2}
output:
  schema: {type: object, properties: {answer: {type: string}}}
"""


@pytest.mark.parametrize(
    ("trigger", "setting", "shown"),
    [
        ("cli", "", True),
        ("chatops", "", False),
        ("schedule", "", False),
        ("chatops", "include", True),
        ("cli", "withhold", False),
    ],
)
async def test_restricted_comments_reach_the_model_only_when_the_report_stays_with_its_reader(
    project, trigger, setting, shown
):
    """A comment only the Developers role may read (on PAY-429): a person's own run shows it, marked; a Slack or
    scheduled run, whose report others read, withholds it from gather steps and the model's tool calls alike,
    unless the workflow says `restricted_comments: include`."""
    project.prompt("reader.md.j2", "{% for c in steps.issue.comments %}{{ c.body }}\n{% endfor %}")
    project.workflow("reader", READER + (f"  restricted_comments: {setting}\n" if setting else ""))
    script = ScriptedModel.from_turns([[tool("get_jira_issue", key="PAY-429")], [tool("submit_result", answer="read")]])
    site = Site.open("cloud")
    run = Runner(model=script, bundled=lambda quota: server_for(site, user="dev", quota=quota))
    record = (await run.execute(RunRequest(workflow="reader", trigger=trigger))).record
    assert record.terminal_reason == "completed", record.error
    prompt = script.calls[0].messages[0]["content"]
    [called] = script.calls[1].messages[-1]["content"]
    assert ("Halvorsen" in prompt) is shown and ("Halvorsen" in called["content"]) is shown
    assert ("visible to Developers only" in called["content"]) is shown
    assert ("withheld" in called["content"]) is not shown
