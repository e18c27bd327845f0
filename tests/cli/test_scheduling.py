"""`agentflow schedule --dry-run` and `--once` from the command line, against the state directory's sandbox, with
the clock fixed at a moment the grooming job is due."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from itertools import takewhile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentflow.cli import app as agentflow_app
from agentflow.schedule import scheduler
from tests.schedule.test_dst import QUARTERLY

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "scripts" / "backlog-grooming.yaml"
THURSDAY_7AM = datetime(2026, 11, 26, 7, 0, 30, tzinfo=UTC)
BERLIN = """\
name: berlin-digest
title: A digest at seven, Berlin time
agent: {prompt: minimal.md.j2}
output: {schema: {type: object}}
schedule: {cron: "0 7 * * 1-5", timezone: Europe/Berlin}
"""


def invoke(*args: str):
    return CliRunner().invoke(agentflow_app, ["schedule", *args], catch_exceptions=False)


def configure(text: str) -> None:
    """Add to the isolated config, which keeps its generous start-up box for the bundled server."""
    with Path(os.environ["AGENTFLOW_CONFIG"]).open("a", encoding="utf-8") as config:
        config.write(text)


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scheduler, "utc_now", lambda: THURSDAY_7AM)


def test_dry_run_prints_the_next_occurrences_in_the_workflows_zone_and_in_utc(project):
    project.workflow("berlin-digest", BERLIN)
    configure('[schedule.inputs.backlog-grooming]\nproject = "PROD"\n')
    result = invoke("--dry-run", "--count", "2")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[lines.index("backlog-grooming  0 7 * * 1-5  (UTC)  inputs: project=PROD") + 1 :][:2] == [
        "  Fri 2026-11-27 07:00 UTC     2026-11-27T07:00Z",
        "  Mon 2026-11-30 07:00 UTC     2026-11-30T07:00Z",
    ]
    berlin = lines.index("berlin-digest  0 7 * * 1-5  (Europe/Berlin)  inputs: none")
    assert lines[berlin + 1].split() == ["Fri", "2026-11-27", "07:00", "CET", "2026-11-27T06:00Z"]
    assert "will be skipped" not in result.stdout


def test_dry_run_warns_about_a_scheduled_workflow_without_its_inputs():
    result = invoke("--dry-run", "--count", "1")
    assert result.exit_code == 0
    assert "will be skipped: backlog-grooming: missing required input 'project'" in result.stdout
    assert "[schedule.inputs.backlog-grooming]" in result.stdout


def listing(stdout: str, workflow: str) -> list[list[str]]:
    """The occurrence lines `--dry-run` printed under `workflow`, split into words."""
    lines = stdout.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith(f"{workflow}  ")) + 1
    below = takewhile(lambda line: line.startswith("  "), lines[start:])
    return [line.split() for line in below if "will be skipped" not in line]


def test_dry_run_from_before_berlins_fall_back_night_lists_a_quarter_hourly_job_without_a_gap(project):
    project.workflow("quarterly", QUARTERLY)
    result = invoke("--dry-run", "--from", "2026-10-24T23:00Z", "--count", "13")
    assert result.exit_code == 0, result.output
    found = listing(result.stdout, "quarterly")
    start = datetime(2026, 10, 24, 23, 0, tzinfo=UTC)  # 01:00 CEST; at 01:00 UTC the clocks go back an hour
    assert [words[-1] for words in found] == [
        (start + timedelta(minutes=15 * n)).strftime("%Y-%m-%dT%H:%MZ") for n in range(13)]  # fmt: skip
    assert [" ".join(words[2:4]) for words in found[4:9]] == [
        "02:00 CEST", "02:15 CEST", "02:30 CEST", "02:45 CEST", "02:00 CET"]  # fmt: skip


def test_dry_run_from_without_an_offset_is_read_in_each_workflows_zone(project):
    project.workflow("quarterly", QUARTERLY)
    for given in ("2026-10-25T01:00", "2026-10-25T01:00+02:00", "2026-10-24T23:00:00Z"):
        result = invoke("--dry-run", "--from", given, "--count", "1")
        assert result.exit_code == 0, result.output
        assert listing(result.stdout, "quarterly") == [["Sun", "2026-10-25", "01:00", "CEST", "2026-10-24T23:00Z"]]
    naive = invoke("--dry-run", "--from", "2026-10-26", "--count", "1")  # a date: midnight there, UTC here
    assert listing(naive.stdout, "backlog-grooming") == [["Mon", "2026-10-26", "07:00", "UTC", "2026-10-26T07:00Z"]]
    assert listing(naive.stdout, "quarterly")[0][-1] == "2026-10-25T23:00Z"


@pytest.mark.parametrize(
    ("given", "message"),
    [("tomorrow", "--from takes an ISO 8601 date or time such as 2026-10-24T23:00Z"),
     ("2026-13-01", "(got '2026-13-01')"), ("", "(got '')"),
     ("1969-12-31T23:59Z", "--from must be in the years 1970 to 9998 (got '1969-12-31T23:59Z')"),
     ("9999-06-01", "--from must be in the years 1970 to 9998")],
)  # fmt: skip
def test_dry_run_from_a_date_it_cannot_read_exits_2_with_a_message(given: str, message: str):
    result = invoke("--dry-run", "--from", given)  # an exception escaping the command would fail the test here
    assert result.exit_code == 2, result.output
    assert "error: " in result.stderr and message in result.stderr
    assert result.stdout == ""


def test_from_without_dry_run_exits_2_and_runs_nothing():
    result = invoke("--once", "--from", "2026-10-24T23:00Z")
    assert result.exit_code == 2
    assert "--from goes with --dry-run" in result.stderr
    history = CliRunner().invoke(agentflow_app, ["runs", "--actor", "scheduler", "--json"])
    assert json.loads(history.stdout) == []


def test_help_explains_from():
    result = CliRunner().invoke(agentflow_app, ["schedule", "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "--from" in result.stdout and "each workflow's own time zone" in result.stdout


def test_once_runs_what_is_due_delivers_it_and_a_second_once_finds_nothing(tmp_path):
    configure(f"""\
[schedule]
grace = "2h"
model = "script:{SCRIPT}"
[schedule.inputs.backlog-grooming]
project = "PROD"
[schedule.delivery]
file = "{tmp_path}/reports/{{workflow}}-{{date}}.md"
""")
    result = invoke("--once")
    assert result.exit_code == 0, result.output
    assert "schedule: backlog-grooming 2026-11-26T07:00Z -> completed run " in result.stderr
    report = (tmp_path / "reports" / "backlog-grooming-2026-11-26.md").read_text()
    assert "applied without asking (writes policy)" in report and "agentflow apply" in report

    again = invoke("--once")
    assert again.exit_code == 0
    assert "schedule: nothing due; next: backlog-grooming at 2026-11-27T07:00Z" in again.stderr

    history = CliRunner().invoke(agentflow_app, ["runs", "--actor", "scheduler", "--json"])
    [run] = json.loads(history.stdout)
    assert (run["workflow"], run["trigger"], run["terminal_reason"]) == ("backlog-grooming", "schedule", "completed")


def test_once_with_missing_inputs_exits_2_and_says_what_to_set():
    result = invoke("--once")
    assert result.exit_code == 2
    assert "-> skipped: backlog-grooming: missing required input 'project'" in result.stderr
    assert "[schedule.inputs.backlog-grooming]" in result.stderr


def test_a_broken_schedule_table_exits_2_naming_the_key():
    configure('[schedule]\ngrace = "a while"\n')
    result = invoke("--once")
    assert result.exit_code == 2
    assert "schedule.grace in the config file: 'a while' is not a duration" in result.stderr


def test_a_file_pattern_with_a_format_spec_exits_2_before_anything_runs():
    configure('[schedule.inputs.backlog-grooming]\nproject = "PROD"\n[schedule.delivery]\n'
              'file = "r-{date}-{time:d}.md"\n')  # fmt: skip
    result = invoke("--once")
    assert result.exit_code == 2
    assert "schedule.delivery.file in the config file: 'r-{date}-{time:d}.md' is not a valid file pattern" in (
        result.stderr
    )
    assert "Traceback" not in result.output
    history = CliRunner().invoke(agentflow_app, ["runs", "--actor", "scheduler", "--json"])
    assert json.loads(history.stdout) == []


@pytest.mark.parametrize(("grace", "shown"), [("-60", "-1m"), ('"0m"', "0s"), ('"999999d"', "999999d")])
def test_a_grace_out_of_range_exits_2(grace: str, shown: str):
    configure(f"[schedule]\ngrace = {grace}\n")
    for args in (["--once"], ["--dry-run"]):
        result = invoke(*args)
        assert result.exit_code == 2, result.output
        assert f"schedule.grace in the config file: must be more than 0 and at most 7d (got {shown})" in result.stderr


def test_once_reports_an_unexpected_error_scrubbed_and_exits_1(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SOME_API_TOKEN", "s3cret-value-0123456789")

    async def crash(self: scheduler.Scheduler) -> list:
        raise RuntimeError("bug near s3cret-value-0123456789")

    monkeypatch.setattr(scheduler.Scheduler, "run_due", crash)
    result = invoke("--once")  # an exception escaping the command would fail the test here
    assert result.exit_code == 1
    assert "schedule: unexpected error: RuntimeError('bug near [REDACTED]'); exiting" in result.stderr
    assert "s3cret-value" not in result.output
