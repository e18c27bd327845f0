"""Replaying recorded runs: export a run's model turns as a script, replay it, and say where a replay parted."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentflow import replay, runs
from agentflow.agent.scripted import ScriptedModel
from agentflow.agent.select import model_from_spec
from agentflow.atlassian.testing import server_for
from agentflow.cli import app
from agentflow.runner import Runner, RunRequest
from agentflow.sandbox.site import Site
from tests.conftest import TRANSCRIPT, staged_stories

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parent.parent
TRIAGE = RunRequest(workflow="bug-triage", inputs={"keys": "PAY-429"})


def on(site: Site, model) -> Runner:
    return Runner(model=model, bundled=lambda quota: server_for(site, user="dev", quota=quota), budget=None)


async def test_an_exported_run_replays_to_the_same_answer_and_plan(tmp_path):
    site = Site.open("cloud")
    first = (await on(site, ScriptedModel(ROOT / "examples" / "scripts" / "bug-triage.yaml")).execute(TRIAGE)).record
    exported = replay.export(first)
    assert exported.inputs == {"keys": ["PAY-429"]} and exported.missing == []
    script = tmp_path / "case.yaml"
    script.write_text(replay.script_text(first, exported))
    again = (await on(site, ScriptedModel(script)).execute(TRIAGE)).record
    assert (again.output, again.changes) == (first.output, first.changes) and again.terminal_reason == "completed"
    replayed = (await on(site, model_from_spec(f"replay:{first.id}", {})).execute(TRIAGE)).record
    assert replayed.model == f"replay:{first.id}" and replayed.diverged == []
    assert replayed.output == first.output and f"Replay of run {first.id}: every call and result as it was" in (
        replayed.report or ""
    )


async def test_a_replay_against_a_site_that_changed_says_where_it_parted():
    site = Site.open("cloud")
    first = (await on(site, ScriptedModel(ROOT / "examples" / "scripts" / "bug-triage.yaml")).execute(TRIAGE)).record
    # Someone edits the issue the model reads in its turns, and the search the gather step makes, in between.
    with site.store.transaction() as conn:
        conn.execute("UPDATE issues SET summary = summary || ' (reopened)' WHERE key = 'PAY-388'")
    replayed = (await on(site, model_from_spec(f"replay:{first.id}", {})).execute(TRIAGE)).record
    assert replayed.terminal_reason == "completed"  # replay goes on
    assert any(line.endswith(f"get_jira_issue: the result differs from run {first.id}'s") for line in replayed.diverged)
    assert f"Replay of run {first.id} parted from it: turn " in (replayed.report or "")


def test_export_from_the_command_line_names_what_the_person_must_supply(tmp_path):
    cli = CliRunner()
    staged_stories()
    out = tmp_path / "stories.yaml"
    exported = cli.invoke(app, ["runs", "export", "last", "--script", str(out), "--inputs", str(tmp_path / "in.yaml")])
    assert exported.exit_code == 0, exported.output
    words = " ".join(exported.stdout.split())
    assert f"to supply: input transcript: the file {TRANSCRIPT}" in words
    assert "Replay: agentflow run transcript-to-stories --input-file" in words
    again = cli.invoke(app, ["run", "transcript-to-stories", "--input-file", str(tmp_path / "in.yaml"),
                             "--model", f"script:{out}", "--json"])  # fmt: skip
    assert again.exit_code == 0, again.output
    assert [c.summary for c in runs.load("last").changes] == [c.summary for c in runs.list_runs()[1].changes]
    direct = cli.invoke(app, ["run", "transcript-to-stories", "--model", f"replay:{runs.list_runs()[1].id}", "--quiet"])
    assert direct.exit_code == 0 and "parted from it" not in direct.stdout
    none = cli.invoke(app, ["runs", "export", runs.list_runs()[0].id, "--script", str(out)])
    assert none.exit_code == 0  # a replay is itself a run with turns
    missing = cli.invoke(app, ["runs", "export", "20990101", "--script", str(out)])
    assert missing.exit_code == 2 and "no run '20990101'" in missing.stderr
