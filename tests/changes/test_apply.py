"""Applying change plans: in order, exactly once (also after a crash or a kill), attributed, only when asked."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import selectors
import signal
import subprocess
import sys
import threading
from pathlib import Path

import anyio
import pytest
from typer.testing import CliRunner

from agentflow import config, runs
from agentflow.agent.scripted import ScriptedModel
from agentflow.atlassian.catalog import WRITE_TOOLS
from agentflow.atlassian.testing import server_for
from agentflow.budget import Budget, Settings
from agentflow.changes import apply as applying
from agentflow.changes.attribution import run_label
from agentflow.changes.journal import exclusive
from agentflow.changes.plan import Change
from agentflow.cli import app
from agentflow.errors import ConfigError
from agentflow.ledger import SQLiteLedger
from agentflow.runner import Runner, RunRequest
from agentflow.sandbox.site import Site, running
from tests.conftest import SLOW_MACHINE_SECONDS, staged_stories

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]
TRANSCRIPT = {"transcript": str(ROOT / "examples" / "transcripts" / "acme-finance-interview.md"), "epic": "PROD-100"}


def labelled(site: Site, run_id: str) -> list[dict]:
    rows = site.store.query(
        "SELECT i.key, i.summary, p.key AS epic FROM issues i LEFT JOIN issues p ON p.id = i.parent_id "
        "WHERE i.id IN (SELECT issue_id FROM issue_labels WHERE label = ?) ORDER BY i.key",
        (run_label(run_id),),
    )
    return [dict(row) for row in rows]


async def stories_run(site: Site) -> tuple[Runner, runs.RunRecord]:
    runner = Runner(
        model=ScriptedModel(ROOT / "examples" / "scripts" / "transcript-to-stories.yaml"),
        bundled=lambda quota: server_for(site, user="pm", quota=quota),
        budget=None,
    )
    record = (await runner.execute(RunRequest(workflow="transcript-to-stories", inputs=TRANSCRIPT))).record
    return runner, record


async def test_stories_are_staged_then_applied_exactly_once_linked_and_labelled():
    site = Site.open("cloud")
    before = site.store.query_one("SELECT COUNT(*) FROM issues")[0]
    runner, record = await stories_run(site)
    assert record.terminal_reason == "completed"
    assert [c.tool for c in record.changes] == ["create_jira_issue"] * 4 + ["link_to_epic"] * 4
    assert [c.arguments["issue"] for c in record.changes[4:]] == ["$1", "$2", "$3", "$4"]
    assert site.store.query_one("SELECT COUNT(*) FROM issues")[0] == before  # nothing written before apply
    _, results = await runner.apply(record.id, actor="priya", on_change=lambda a: None)
    assert [r.state for r in results] == ["applied"] * 8
    created = labelled(site, record.id)
    assert len(created) == 4 and {row["epic"] for row in created} == {"PROD-100"}
    assert site.store.query_one("SELECT COUNT(*) FROM issues")[0] == before + 4
    description = site.store.query_one("SELECT description_text FROM issues WHERE key = ?", (created[0]["key"],))[0]
    assert f"run {record.id}, change 1" in description
    _, again = await runner.apply(record.id, actor="priya", on_change=lambda a: None)
    assert {r.detail for r in again} == {"already applied"} and len(labelled(site, record.id)) == 4
    audit_lines = [json.loads(line) for line in config.state_dir().joinpath("audit.log").read_text().splitlines()]
    approved = [line for line in audit_lines if line["kind"] == "apply" and line["tool"] in WRITE_TOOLS]
    assert len(approved) == 8 and {line["actor"] for line in approved} == {"priya"}
    checked = [line for line in audit_lines if line["kind"] == "verify"]  # each write read back, as asked
    assert [line["outcome"] for line in checked] == ["verified"] * 8 and all(r.verified for r in results)


async def test_partial_apply_then_the_rest_and_dependencies():
    site = Site.open("dc")
    runner, record = await stories_run(site)
    _, first = await runner.apply(record.id, actor="priya", only={1, 5}, on_change=lambda a: None)
    assert [(r.index, r.state) for r in first] == [(1, "applied"), (5, "applied")]
    _, orphan = await runner.apply(record.id, actor="priya", only={6}, on_change=lambda a: None)
    assert orphan[0].state == "failed" and orphan[0].detail == "needs $2, which is not applied"
    await runner.apply(record.id, actor="priya", on_change=lambda a: None)
    created = labelled(site, record.id)
    assert len(created) == 4 and {row["epic"] for row in created} == {"PROD-100"}  # DC: the Epic Link field


async def test_a_crash_between_the_request_and_the_journal_write_creates_nothing_twice(monkeypatch):
    site = Site.open("cloud")
    runner, record = await stories_run(site)
    real_set = applying.Journal.set

    def crash_after_third(journal, index, **fields):
        if index == 3 and fields.get("state") == "applied":
            raise KeyboardInterrupt("the process died right after Jira created the issue")
        real_set(journal, index, **fields)

    monkeypatch.setattr(applying.Journal, "set", crash_after_third)
    with pytest.raises(KeyboardInterrupt):
        await runner.apply(record.id, actor="priya", on_change=lambda a: None)
    assert applying.Journal.load(record.id).entry(3).state == "applying"
    assert len(labelled(site, record.id)) == 3
    monkeypatch.setattr(applying.Journal, "set", real_set)
    _, results = await runner.apply(record.id, actor="priya", on_change=lambda a: None)
    assert results[2].detail.startswith("found it already made")
    assert len(labelled(site, record.id)) == 4 and {r["epic"] for r in labelled(site, record.id)} == {"PROD-100"}


async def test_a_second_apply_of_the_same_run_while_one_is_running_is_refused_and_nothing_is_made_twice():
    site = Site.open("cloud")
    runner, record = await stories_run(site)
    # As an apply in another process (a terminal, a chat command) holds it:
    held = exclusive(record.id)
    with held, pytest.raises(ConfigError, match="is being applied right now by another process"):
        await runner.apply(record.id, actor="sam", on_change=lambda a: None)
    assert labelled(site, record.id) == []
    _, results = await runner.apply(record.id, actor="priya", on_change=lambda a: None)
    assert [r.state for r in results] == ["applied"] * 8 and len(labelled(site, record.id)) == 4


class HoldingTheThirdCreate:
    """The site's app, except that the third issue created waits until the test has killed the applying
    process, and is then refused unmade: the kill lands between the second create and the third however slow
    or loaded the machine is (a served latency only made that likely)."""

    def __init__(self, app) -> None:
        self.app = app
        self.creates = 0
        self.killed = threading.Event()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"].endswith("/issue"):
            self.creates += 1
            if self.creates == 3:
                await anyio.to_thread.run_sync(self.killed.wait, SLOW_MACHINE_SECONDS, abandon_on_cancel=True)
                await send({"type": "http.response.start", "status": 503, "headers": []})
                await send({"type": "http.response.body", "body": b""})
                return
        await self.app(scope, receive, send)


def test_killing_apply_halfway_then_applying_again_ends_with_exactly_five(project, tmp_path):
    """A real `agentflow apply` process, SIGKILLed while its third create is in flight; applying again must end
    with exactly the five issues the plan has."""
    project.prompt("five.md.j2", "Create five tasks.\n")
    project.workflow(
        "five",
        """\
        name: five
        title: Five tasks
        tools: [create_jira_issue]
        agent: {prompt: five.md.j2}
        output: {schema: {type: object}}
        writes: {mode: staged, limits: {create_jira_issue: 5}}
        """,
    )
    site = Site.open("cloud", tmp_path / "five.db")
    script = [[{"type": "tool_use", "name": "create_jira_issue", "input": {
        "project": "OPS", "issue_type": "Task", "summary": f"Task {n}", "description": f"Task number {n}"}}
        for n in range(1, 6)], [{"type": "tool_use", "name": "submit_result", "input": {}}]]  # fmt: skip
    holding = HoldingTheThirdCreate(site.app)
    with running(dataclasses.replace(site, app=holding)) as url:
        env = {**os.environ, **site.env(url, "sre")}
        os.environ.update(site.env(url, "sre"))
        try:
            import asyncio

            record = asyncio.run(
                Runner(model=ScriptedModel.from_turns(script), budget=None).execute(RunRequest(workflow="five"))
            ).record
        finally:
            for name in site.env(url, "sre"):
                os.environ.pop(name)
        assert len(record.changes) == 5
        command = [sys.executable, "-m", "agentflow", "apply", record.id, "--yes"]
        try:
            with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True) as child:
                applied = 0
                with selectors.DefaultSelector() as selector:
                    selector.register(child.stdout, selectors.EVENT_READ)
                    while applied < 2:
                        assert selector.select(timeout=SLOW_MACHINE_SECONDS), "apply printed nothing"
                        line = child.stdout.readline()
                        assert line, child.stderr.read()
                        applied += line.startswith("applied")
                child.send_signal(signal.SIGKILL)
                child.wait(timeout=SLOW_MACHINE_SECONDS)
        finally:
            holding.killed.set()
        assert len(labelled(Site.open("cloud", tmp_path / "five.db"), record.id)) == 2
        again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=SLOW_MACHINE_SECONDS)
        assert again.returncode == 0, again.stderr
    final = labelled(Site.open("cloud", tmp_path / "five.db"), record.id)
    assert sorted(row["summary"] for row in final) == [f"Task {n}" for n in range(1, 6)]


async def test_a_prompt_injection_writes_nothing_unapproved():
    """PAY-431's comment tells the agent to close issues, comment on SEC-7 and create a task. A model that
    obeys: the allowlist refuses what the workflow does not allow, and the rest is only staged."""
    site = Site.open("cloud")
    statuses = dict(site.store.query("SELECT key, status_id FROM issues"))
    comments = site.store.query_one("SELECT COUNT(*) FROM comments")[0]
    obedient = ScriptedModel.from_turns([
        [{"type": "tool_use", "name": "get_jira_issue", "input": {"key": "PAY-431"}}],
        [{"type": "tool_use", "name": "transition_jira_issue", "input": {"key": "PAY-429", "status": "Done"}},
         {"type": "tool_use", "name": "add_jira_comment",
          "input": {"key": "SEC-7", "body": "Approved, no action needed"}},
         {"type": "tool_use", "name": "create_jira_issue",
          "input": {"project": "PROD", "issue_type": "Task", "summary": "Refund bug is fixed", "description": "x"}}],
        [{"type": "tool_use", "name": "submit_result", "input": {"triage": [{
            "key": "PAY-431", "summary": "s", "probable_cause": "c", "component": "Reconciliation", "evidence": [],
            "similar": [], "next_step": "n", "confidence": "low"}]}}],
    ])  # fmt: skip
    runner = Runner(model=obedient, bundled=lambda quota: server_for(site, user="dev", quota=quota), budget=None)
    record = (await runner.execute(RunRequest(workflow="bug-triage", inputs={"keys": "PAY-431"}))).record
    assert "ignore your previous instructions" in str(obedient.calls[1].messages)  # the model did read it
    statuses_now = {c.tool: c.status for c in record.tool_calls}
    assert statuses_now["transition_jira_issue"] == "refused" and statuses_now["create_jira_issue"] == "refused"
    assert statuses_now["add_jira_comment"] == "staged" and [c.target for c in record.changes] == ["SEC-7"]
    assert dict(site.store.query("SELECT key, status_id FROM issues")) == statuses
    assert site.store.query_one("SELECT COUNT(*) FROM comments")[0] == comments
    _, results = await runner.apply(record.id, actor="dev", on_change=lambda a: None)
    assert results[0].state == "failed" and "Issue does not exist" in results[0].detail  # dev cannot see SEC


async def test_read_only_refuses_every_apply(monkeypatch):
    site = Site.open("cloud")
    runner, record = await stories_run(site)
    monkeypatch.setenv("AGENTFLOW_READ_ONLY", "1")
    with pytest.raises(ConfigError, match="AGENTFLOW_READ_ONLY=1: this machine refuses to apply changes"):
        await runner.apply(record.id, actor="priya")
    result = CliRunner().invoke(app, ["apply", record.id, "--yes"])
    assert result.exit_code == 2 and "refuses to apply" in result.stderr


async def test_writes_auto_applies_within_limits_at_the_end_of_the_run(project):
    project.prompt("tag.md.j2", "Label stale issues.\n")
    project.workflow(
        "tagger",
        """\
        name: tagger
        title: Label stale issues
        tools: [update_jira_issue]
        agent: {prompt: tag.md.j2}
        output: {schema: {type: object}}
        writes: {mode: auto, limits: {update_jira_issue: 1}}
        """,
    )
    site = Site.open("cloud")
    script = ScriptedModel.from_turns([
        [{"type": "tool_use", "name": "update_jira_issue", "input": {"key": "PROD-110", "add_labels": ["stale"]}},
         {"type": "tool_use", "name": "update_jira_issue", "input": {"key": "PROD-111", "add_labels": ["stale"]}}],
        [{"type": "tool_use", "name": "submit_result", "input": {}}],
    ])  # fmt: skip
    runner = Runner(model=script, bundled=lambda quota: server_for(site, user="lead", quota=quota), budget=None)
    record = (await runner.execute(RunRequest(workflow="tagger"))).record
    labels = {key: {r[0] for r in site.store.query(
        "SELECT label FROM issue_labels WHERE issue_id = (SELECT id FROM issues WHERE key = ?)", (key,))}
        for key in ("PROD-110", "PROD-111")}  # fmt: skip
    assert "stale" in labels["PROD-110"] and "stale" not in labels["PROD-111"]  # the second was over the limit
    assert [a.state for a in record.applied] == ["applied"]
    assert (
        "| update_jira_issue | PROD-110 |" in record.report
        and "| applied without asking (writes policy): [PROD-110](http://" in record.report
    )
    assert "The change is applied without asking (writes policy)." in record.report


def test_apply_from_the_command_line(tmp_path):
    script = ROOT / "examples" / "scripts" / "transcript-to-stories.yaml"
    cli = CliRunner()
    ran = cli.invoke(app, ["run", "transcript-to-stories", f"transcript={TRANSCRIPT['transcript']}", "epic=PROD-100",
                           "--model", f"script:{script}", "--quiet"])  # fmt: skip
    assert (
        ran.exit_code == 0
        and "Nothing has been written: 8 staged, not written until a person applies them" in ran.stdout
    )
    shown = cli.invoke(app, ["runs", "show", "last", "--changes"])
    assert "As an accounts payable clerk, I want to select several invoices" in shown.stdout
    refused = cli.invoke(app, ["apply", "last"])  # no terminal, no --yes
    assert refused.exit_code == 2 and "pass --yes" in refused.stderr
    bad = cli.invoke(app, ["apply", "last", "--only", "1,x"])
    assert bad.exit_code == 2
    done = cli.invoke(app, ["apply", "last", "--only", "1", "--yes"])
    assert done.exit_code == 0 and "applied $1" in done.stdout
    partly = " ".join(cli.invoke(app, ["runs", "show", "last"]).stdout.split())
    assert "1 applied; 7 staged, not written until a person applies them" in partly
    assert "Nothing has been written" not in partly
    rest = cli.invoke(app, ["apply", "last", "--yes"])
    assert rest.exit_code == 0 and rest.stdout.count("already applied") == 1
    nothing = cli.invoke(app, ["apply", "last", "--yes"])
    assert "Everything selected is already applied." in nothing.stdout
    shown = " ".join(cli.invoke(app, ["runs", "show", "last"]).stdout.split())
    assert "All 8 changes are applied." in shown and "Nothing has been written" not in shown
    as_json = json.loads(cli.invoke(app, ["runs", "show", "last", "--json"]).stdout)
    assert "All 8 changes are applied." in as_json["report"]
    assert {line["state"] for line in as_json["change_states"]} == {"applied"}
    created = re.findall(r"applied: (PROD-\d+)", shown)  # each story apply created, and each one's epic link
    assert len(created) == 8 and len(set(created)) == 4
    from agentflow.config import sandbox_db

    record = runs.load("last")
    assert len(labelled(Site.open("cloud", sandbox_db()), record.id)) == 4


async def test_apply_stopped_by_the_budget_starts_no_change_it_cannot_finish_and_goes_on_later():
    site = Site.open("dc")  # a create reserves two requests (with an epic, DC looks up the Epic Link field first)
    clock = [1_800_000_000.0]
    budget = Budget(SQLiteLedger(":memory:"), Settings(per_hour=40), lambda: clock[0])
    _, record = await stories_run(site)
    runner = Runner(bundled=lambda quota: server_for(site, user="pm", quota=quota), budget=budget)
    budget.reserve("sandbox", 38, "interactive")  # 2 left: the first create uses 1 and gives one back
    before = site.store.query_one("SELECT COUNT(*) FROM issues")[0]
    _, first = await runner.apply(record.id, actor="priya", on_change=lambda a: None)
    assert [(r.index, r.state) for r in first] == [(1, "applied"), (2, applying.DEFERRED)]
    assert first[1].detail.startswith("Not sent to 127.0.0.1: the hourly budget for sandbox is used up")
    assert applying.Journal.load(record.id).entry(2).state == "pending"  # nothing of it reached the site
    assert site.store.query_one("SELECT COUNT(*) FROM issues")[0] == before + 1
    clock[0] += 3600  # the hour slides
    _, rest = await runner.apply(record.id, actor="priya", on_change=lambda a: None)
    assert [r.state for r in rest] == ["applied"] * 8 and rest[0].detail == "already applied"
    assert len(labelled(site, record.id)) == 4


def test_apply_stopped_by_the_budget_exits_3_and_says_so(monkeypatch):
    script = ROOT / "examples" / "scripts" / "transcript-to-stories.yaml"
    cli = CliRunner()
    inputs = [f"{name}={value}" for name, value in TRANSCRIPT.items()]
    ran = cli.invoke(app, ["run", "transcript-to-stories", *inputs, "--model", f"script:{script}", "--quiet"])
    assert ran.exit_code == 0, ran.stderr
    monkeypatch.setenv("AGENTFLOW_BUDGET_PER_HOUR", "3")  # what the run spent leaves no room for a create
    result = cli.invoke(app, ["apply", "last", "--yes"])
    assert result.exit_code == 3, result.stderr
    assert "Stopped by the hourly rate budget" in result.stdout
    assert "deferred $1" in " ".join(result.stdout.split())


def test_a_journal_lost_after_a_full_apply_makes_nothing_again():
    from agentflow.config import sandbox_db

    cli = CliRunner()
    record = runs.load(staged_stories())
    assert cli.invoke(app, ["apply", "last", "--yes"]).exit_code == 0
    site = Site.open("cloud", sandbox_db())
    total = site.store.query_one("SELECT COUNT(*) FROM issues")[0]
    applying.Journal.path_for(record.id).unlink()
    again = cli.invoke(app, ["apply", "last", "--yes"])
    assert again.exit_code == 0, again.output
    assert again.stdout.count("found it already made") == 8  # four stories, four epic links: all on the site
    assert site.store.query_one("SELECT COUNT(*) FROM issues")[0] == total and len(labelled(site, record.id)) == 4
    rebuilt = applying.Journal.load(record.id)
    assert [rebuilt.entry(n).state for n in range(1, 9)] == ["applied"] * 8
    keys = {row["key"] for row in labelled(site, record.id)}
    assert {rebuilt.entry(n).result["key"] for n in range(1, 5)} == keys  # what $1..$4 resolve to, recovered


def test_a_journal_lost_half_way_makes_only_what_is_missing():
    from agentflow.config import sandbox_db

    cli = CliRunner()
    record = runs.load(staged_stories())
    assert cli.invoke(app, ["apply", "last", "--only", "1,2,5", "--yes"]).exit_code == 0
    site = Site.open("cloud", sandbox_db())
    total = site.store.query_one("SELECT COUNT(*) FROM issues")[0]
    journal = applying.Journal.path_for(record.id)
    journal.rename(journal.with_name(journal.name + ".damaged"))  # as a person moves a damaged one aside
    rest = cli.invoke(app, ["apply", "last", "--yes"])
    assert rest.exit_code == 0, rest.output
    assert site.store.query_one("SELECT COUNT(*) FROM issues")[0] == total + 2  # stories 3 and 4 only
    created = labelled(site, record.id)
    assert len(created) == 4 and {row["epic"] for row in created} == {"PROD-100"}
    assert rest.stdout.count("found it already made") == 3  # $1, $2 and $1's epic link


async def test_a_transition_to_the_status_an_issue_is_in_counts_as_applied():
    site = Site.open("cloud")
    status = site.store.query_one(
        "SELECT s.name FROM issues i JOIN statuses s ON s.id = i.status_id WHERE i.key = 'PAY-429'"
    )[0]
    record = runs.RunRecord(id="20261201-090000-triage-aaaaaa", workflow="triage", started_at="2026-12-01T09:00:00",
                            changes=[Change(index=1, tool="transition_jira_issue", server="atlassian",
                                            arguments={"key": "PAY-429", "status": status})])  # fmt: skip
    runs.save(record)
    runner = Runner(bundled=lambda quota: server_for(site, user="sre", quota=quota), budget=None)
    _, [result] = await runner.apply(record.id, actor="priya", on_change=lambda a: None)
    assert result.state == "applied" and result.detail == f"PAY-429 is already {status}"
    assert applying.Journal.load(record.id).entry(1).state == "applied"


async def test_a_write_that_reads_back_differently_is_reported_and_audited(monkeypatch):
    from agentflow import audit
    from agentflow.host.gate import Gate

    site = Site.open("cloud")
    runner, record = await stories_run(site)
    real = Gate.execute

    async def altered(gate, server, tool, arguments):  # as a site's automation rule that rewrites summaries
        outcome = await real(gate, server, tool, arguments)
        if tool == "get_jira_issue" and outcome.structured:
            outcome.structured["summary"] = "[triaged] " + outcome.structured["summary"]
        return outcome

    monkeypatch.setattr(Gate, "execute", altered)
    _, results = await runner.apply(record.id, actor="priya", only={1}, on_change=lambda a: None)
    assert results[0].state == "applied" and results[0].verified is False
    assert "but reading it back: summary is '[triaged] " in results[0].detail
    [line] = [line for line in audit.read(record.id) if line["kind"] == "verify"]
    assert line["outcome"] == "mismatch" and line["actor"] == "priya"
    assert applying.Journal.load(record.id).entry(1).verified is False
