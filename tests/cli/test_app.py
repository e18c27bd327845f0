"""The command line: output on the right stream, exit codes, no tracebacks."""

import json
import subprocess
import sys

from typer.testing import CliRunner

from agentflow import __version__
from agentflow.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_help_lists_the_commands():
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("list", "show", "validate"):
        assert command in result.stdout


def test_no_arguments_shows_help_and_fails_as_usage_error():
    result = invoke()
    assert result.exit_code == 2
    assert "Usage" in result.output


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"agentflow {__version__}"


def test_list_shows_the_four_workflows(project):
    result = invoke("list")
    assert result.exit_code == 0, result.stderr
    for name, persona in [("bug-triage", "developer"), ("incident", "SRE"), ("backlog-grooming", "team lead")]:
        assert name in result.stdout and persona in result.stdout
    assert "transcript-to" in result.stdout
    assert "0 7 * * 1-5" in result.stdout
    assert result.stderr == ""


def test_list_json_is_machine_readable(project):
    project.workflow("mine")
    rows = json.loads(invoke("list", "--json").stdout)
    by_name = {row["name"]: row for row in rows}
    assert {"bug-triage", "incident", "transcript-to-stories", "backlog-grooming", "mine"} <= set(by_name)
    assert by_name["incident"] == {
        "name": "incident",
        "persona": "SRE",
        "title": by_name["incident"]["title"],
        "writes": "none",
        "schedule": "",
        "origin": "built-in",
    }
    assert by_name["mine"]["origin"].endswith("workflows/mine.yaml")


def test_list_warns_about_an_invalid_workflow_and_lists_the_rest(project):
    project.workflow(
        "broken",
        "name: broken\ntitle: B\nagent: {prompt: minimal.md.j2}\noutput: {schema: {type: object}}\nbudgte: {}\n",
    )
    result = invoke("list")
    assert result.exit_code == 0
    assert "incident" in result.stdout and "broken" not in result.stdout
    assert "workflow 'broken' is invalid" in result.stderr
    assert "workflows/broken.yaml:5: unknown key 'budgte'; did you mean 'budget'?" in result.stderr


def test_show_prints_inputs_tools_steps_and_limits(project):
    result = invoke("show", "incident")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "incident alert=STRING [service=STRING] [window=STRING] [project=STRING]" in out
    assert "-[0-9]+[mhdw]" in out  # brackets survive: no rich markup in user text
    for expected in ("search_confluence_pages", "runbooks", "at most 40 Atlassian requests", "Writes   none"):
        assert expected in out


def test_show_json(project):
    data = json.loads(invoke("show", "bug-triage", "--json").stdout)
    assert data["inputs"]["keys"]["type"] == "jira_keys"
    assert data["writes"] == {"mode": "staged", "limits": {"add_jira_comment": 10}, "auto": {}}
    assert data["output"]["schema"]["required"] == ["triage"]


def test_show_unknown_workflow_exits_2_and_names_the_known_ones(project):
    result = invoke("show", "incidnet")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert (
        "error: unknown workflow 'incidnet'; known workflows: backlog-grooming, bug-triage, incident" in result.stderr
    )
    assert "Traceback" not in result.output


def test_validate_with_no_arguments_checks_every_workflow(project):
    result = invoke("validate")
    assert result.exit_code == 0, result.stderr
    assert "4 workflows valid" in result.stdout


def test_validate_reports_each_problem_with_file_and_line_and_exits_2(project):
    project.workflow("good")
    project.workflow(
        "bad",
        "name: bad\ntitle: T\ntool: [get_jira_issue]\n"
        "agent: {prompt: minimal.md.j2}\noutput: {schema: {type: object}}\n",
    )
    result = invoke("validate", "good", "workflows/bad.yaml", "nonexistent")
    assert result.exit_code == 2
    assert "ok  good" in result.stdout
    assert result.stderr.splitlines() == [
        "error: workflows/bad.yaml:3: unknown key 'tool'; did you mean 'tools'?",
        "error: unknown workflow 'nonexistent'; known workflows: backlog-grooming, bad, bug-triage, good, incident, "
        "transcript-to-stories",
        "2 of 3 workflows invalid",
    ]


def test_python_dash_m_runs_the_cli():
    result = subprocess.run(
        [sys.executable, "-m", "agentflow", "--version"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and result.stdout.strip() == f"agentflow {__version__}"


def test_importing_the_cli_loads_no_heavy_modules():
    """`agentflow --help` must stay fast: heavy libraries load inside the commands that need them."""
    heavy = ["pydantic", "jinja2", "yaml", "jsonschema", "croniter", "mcp", "anthropic", "httpx2", "rich.table"]
    code = f"import sys, agentflow.cli; print([m for m in {heavy!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_network_guard_blocks_real_model_calls():
    """No test can reach a real model API: the connection is refused before it leaves the machine."""
    import anthropic
    import pytest

    client = anthropic.Anthropic(api_key="sk-test", max_retries=0)
    with pytest.raises(anthropic.APIConnectionError) as caught:
        client.messages.create(model="claude-sonnet-5-5", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert "blocked in tests" in repr(caught.value.__cause__) or "blocked in tests" in str(caught.value.__context__)
