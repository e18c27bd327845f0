"""Chat jobs in their own process (what `agentflow serve` uses): runs, pasted text for file inputs, apply."""

from __future__ import annotations

import pytest

from agentflow import audit, runs
from agentflow.agent.scripted import ScriptedModel
from agentflow.chatops.executors import InSubprocess, JobFailed
from agentflow.runner import Runner, RunRequest
from agentflow.workflow.inputs import FileInput
from tests.chatops.conftest import SCRIPTS

pytestmark = pytest.mark.anyio


async def test_a_run_in_a_subprocess_writes_its_record_with_the_chat_user_as_actor():
    request = RunRequest(
        workflow="incident", inputs={"alert": "Database connection pool exhaustion"}, actor="U_SRE",
        trigger="chatops", priority="interactive", model=f"script:{SCRIPTS / 'incident.yaml'}", run_id="chat-run-1",
    )  # fmt: skip
    record = await InSubprocess().run(request)
    assert record.id == "chat-run-1" and record.succeeded and record.model.startswith("script")
    assert (record.actor, record.trigger, record.priority) == ("U_SRE", "chatops", "interactive")
    assert "Database connection pool exhaustion" in (record.report or "")


async def test_pasted_text_reaches_a_file_input_in_the_subprocess():
    transcript = (SCRIPTS.parent / "transcripts" / "acme-finance-interview.md").read_text()
    pasted = FileInput(path="(chat: U_PM)", name="message", text=transcript)
    request = RunRequest(workflow="transcript-to-stories", inputs={"transcript": pasted, "epic": "PROD-100"},
                         actor="U_PM", model="none", run_id="chat-run-2")  # fmt: skip
    record = await InSubprocess().run(request)
    assert record.succeeded and record.inputs["transcript"] == {"file": "(chat: U_PM)", "chars": len(transcript)}
    assert "finance channel whenever a payment fails" in " ".join((record.report or "").split())


async def test_a_run_that_cannot_start_says_why():
    request = RunRequest(workflow="incident", inputs={}, model="none", run_id="chat-run-3")
    with pytest.raises(JobFailed, match="missing required input 'alert'"):
        await InSubprocess().run(request)


async def test_apply_in_a_subprocess_writes_as_the_approver():
    transcript = str(SCRIPTS.parent / "transcripts" / "acme-finance-interview.md")
    runner = Runner(model=ScriptedModel(SCRIPTS / "transcript-to-stories.yaml"))
    staged = await runner.execute(
        RunRequest(workflow="transcript-to-stories", inputs={"transcript": transcript, "epic": "PROD-100"})
    )
    results = await InSubprocess().apply(staged.record.id, "U_LEAD", {1})
    assert [(r.index, r.state) for r in results] == [(1, "applied")]
    lines = [line for line in audit.read(run_id=staged.record.id) if line["trigger"] == "apply"]
    assert lines and {line["actor"] for line in lines} == {"U_LEAD"}
    with pytest.raises(JobFailed, match="no run 'nope'"):
        await InSubprocess().apply("nope", "U_LEAD", None)
    assert runs.load(staged.record.id).changes


async def test_a_chat_run_whose_server_needs_a_sign_in_is_deferred_with_the_command(project, tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text('[servers.rovo]\nurl = "http://127.0.0.1:9/v1/mcp"\nauth = "oauth"\n')
    monkeypatch.setenv("AGENTFLOW_CONFIG", str(config))
    project.workflow(
        "via-rovo",
        """\
        name: via-rovo
        title: Through Rovo
        servers: [rovo]
        tools: [getJiraIssue]
        agent: {prompt: minimal.md.j2}
        output: {schema: {type: object}}
        """,
    )
    record = await InSubprocess().run(RunRequest(workflow="via-rovo", actor="U_SRE", trigger="chatops",
                                                 model="none", run_id="chat-run-4"))  # fmt: skip
    assert record.terminal_reason == runs.TerminalReason.DEFERRED
    assert "not signed in" in (record.error or "") and "agentflow servers login rovo" in (record.error or "")
