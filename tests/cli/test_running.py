"""`agentflow run` and `agentflow runs` from the command line, against the state directory's sandbox."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentflow.cli import app
from tests.conftest import SLOW_MACHINE_SECONDS

runner = CliRunner()
SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "scripts" / "incident.yaml"
ECHO = Path(__file__).resolve().parents[1] / "host" / "servers" / "echo_server.py"
ALERT = "alert=Database connection pool exhaustion"


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_run_with_a_script_prints_the_report_and_exits_0():
    result = invoke("run", "incident", ALERT, "--model", f"script:{SCRIPT}", "--quiet")
    assert result.exit_code == 0, result.stderr
    assert "Runbook: Database connection pool exhaustion" in result.stdout
    assert "OPS-141" in result.stdout and "completed" in result.stdout


def test_run_json_summary_and_output_file(tmp_path):
    target = tmp_path / "report.md"
    result = invoke("run", "incident", ALERT, "--model", f"script:{SCRIPT}", "--json", "--output", str(target))
    summary = json.loads(result.stdout)
    assert summary["terminal_reason"] == "completed" and summary["succeeded"] is True
    assert summary["output"]["suspects"][0]["key"] == "OPS-141"
    assert Path(summary["record"]).exists()
    assert "OPS-141" in target.read_text() and summary["run_id"] in target.read_text()


def test_without_a_key_or_model_it_runs_in_none_mode_and_says_how_to_enable_the_model():
    result = invoke("run", "incident", ALERT)
    assert result.exit_code == 0
    assert "No model ran" in result.stdout and "ANTHROPIC_API_KEY" in result.stdout
    assert "Runbook: Database connection pool exhaustion" in result.stdout and "OPS-141" in result.stdout
    assert "gather runbooks search_confluence_pages ok" in result.stderr  # progress is never silent


def test_bad_input_exits_2_without_a_traceback():
    for args, message in [
        (["run", "incident"], "missing required input 'alert'"),
        (["run", "incident", "alert"], "expected key=value, got 'alert'"),
        (["run", "incident", ALERT, "window=yesterday"], "'yesterday' does not match the pattern"),
        (["run", "incidnet", ALERT], "unknown workflow 'incidnet'"),
        (["run", "incident", ALERT, "--model", "gpt-4"], "model"),
        (["run", "incident", ALERT, "--model", "script:/nope.yaml"], "nope.yaml"),
    ]:
        result = invoke(*args)
        assert result.exit_code in (1, 2), (args, result.output)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.output


def test_input_file(tmp_path):
    inputs = tmp_path / "inputs.yaml"
    inputs.write_text("alert: Database connection pool exhaustion\nwindow: -48h\n")
    result = invoke("run", "incident", "--input-file", str(inputs), "--json", "--model", "none")
    assert json.loads(result.stdout)["terminal_reason"] == "completed"


def test_runs_lists_and_shows_records():
    invoke("run", "incident", ALERT, "--model", f"script:{SCRIPT}", "--quiet")
    listing = invoke("runs", "--json")
    [entry] = json.loads(listing.stdout)
    assert entry["workflow"] == "incident" and entry["terminal_reason"] == "completed"
    shown = invoke("runs", "show", "last")
    assert shown.exit_code == 0 and "OPS-141" in shown.stdout and "gather runbooks" in shown.stdout
    table = invoke("runs")
    assert entry["id"] in table.stdout and "completed" in table.stdout
    missing = invoke("runs", "show", "20990101")
    assert missing.exit_code == 2 and "no run '20990101'" in missing.stderr


def babbling_project(project, tmp_path, monkeypatch, *echo_args: str) -> Path:
    """A workflow on the test echo server, which prints to stdout (where only JSON-RPC belongs) when asked."""
    config = tmp_path / "config.toml"
    config.write_text(
        f"[servers.echo]\ncommand = {json.dumps(sys.executable)}\nargs = {json.dumps([str(ECHO), *echo_args])}\n"
    )
    monkeypatch.setenv("AGENTFLOW_CONFIG", str(config))
    project.workflow(
        "babbling",
        """\
        name: babbling
        title: Talks out of turn
        servers: [echo]
        tools: [babble]
        agent: {prompt: minimal.md.j2}
        output: {schema: {type: object}}
        """,
    )
    script = tmp_path / "script.yaml"
    turns = [[{"type": "tool_use", "name": "babble", "input": {"text": "DEBUG cache warm"}}]]
    script.write_text(json.dumps([*turns, [{"type": "tool_use", "name": "submit_result", "input": {}}]]))
    return script


def test_a_server_printing_to_stdout_at_start_exits_2_with_one_line_and_no_traceback(project, tmp_path, monkeypatch):
    script = babbling_project(project, tmp_path, monkeypatch, "chatty")
    result = invoke("run", "babbling", "--model", f"script:{script}", "--quiet")
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if "not MCP" in line]
    assert lines == [
        "error: MCP server 'echo' did not start: it wrote something that is not MCP to stdout: "
        "'Loading config from ~/.echo.toml...' — servers must write only JSON-RPC to stdout and logs to stderr"
    ], result.stderr
    assert "Traceback" not in result.output


def test_a_server_printing_to_stdout_mid_run_fails_the_run_with_exit_1_and_no_traceback(project, tmp_path, monkeypatch):
    script = babbling_project(project, tmp_path, monkeypatch)
    result = invoke("run", "babbling", "--model", f"script:{script}", "--json")
    summary = json.loads(result.stdout)
    assert result.exit_code == 1 and summary["terminal_reason"] == "server_error"
    assert summary["error"] == (
        "MCP server 'echo' failed: it wrote something that is not MCP to stdout: 'DEBUG cache warm' — servers must "
        "write only JSON-RPC to stdout and logs to stderr"
    )
    assert "Traceback" not in result.output


def test_a_report_template_that_fails_exits_1_without_a_traceback_and_still_shows_the_answer(project):
    project.workflow(
        "noted",
        """\
        name: noted
        title: Noted
        agent: {prompt: minimal.md.j2}
        output:
          schema: {type: object, required: [answer], properties: {answer: {type: string}, note: {type: string}}}
          report: noted.report.md.j2
        """,
    )
    project.prompt("noted.report.md.j2", "# {{ output.answer }}\n\n{{ output.note }}\n")
    script = project.root / "noted.yaml"
    script.write_text("- - {type: tool_use, name: submit_result, input: {answer: forty-two}}\n")
    result = invoke("run", "noted", "--model", f"script:{script}")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    shown = " ".join(result.stdout.split())  # the terminal wraps long lines
    assert '"answer": "forty-two"' in shown
    assert "failed: the report template could not render the answer (prompts/noted.report.md.j2:3: undefined:" in shown
    summary = json.loads(invoke("run", "noted", "--model", f"script:{script}", "--json").stdout)
    assert summary["terminal_reason"] == "report_error" and summary["succeeded"] is False
    assert summary["output"] == {"answer": "forty-two"} and "noted.report.md.j2:3" in summary["error"]


def test_a_gather_step_whose_server_crashes_shows_in_the_live_view_and_fails_the_run(project, tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text(f"[servers.echo]\ncommand = {json.dumps(sys.executable)}\nargs = {json.dumps([str(ECHO)])}\n")
    monkeypatch.setenv("AGENTFLOW_CONFIG", str(config))
    project.workflow(
        "crashing",
        """\
        name: crashing
        title: Crashes while gathering
        servers: [echo]
        tools: [crash]
        steps:
          - {id: boom, tool: crash}
        agent: {prompt: minimal.md.j2}
        output: {schema: {type: object}}
        """,
    )
    result = invoke("run", "crashing", "--model", "none")  # the live view, not --quiet
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "gather boom crash failed" in " ".join(result.output.split())
    assert "MCP server 'echo' failed" in result.stderr


# What a none-mode or scripted run never uses. `uvicorn` and `starlette` are not here: `import mcp` loads them
# itself (its client package imports its server package for the in-memory transport), so no run can avoid them.
NOT_IMPORTED_BY_A_RUN = (
    "anthropic", "slack_sdk", "croniter", "rich.live", "agentflow.agent.anthropic", "agentflow.chatops",
    "agentflow.schedule", "agentflow.evals", "agentflow.atlassian.http_serving", "agentflow.cli.serving",
)  # fmt: skip
_MODULES_AT_EXIT = """\
import atexit, runpy, sys
listing = sys.argv.pop(1)
atexit.register(lambda: print(sorted(sys.modules), file=open(listing, "w")))
sys.argv[0] = "agentflow"
runpy.run_module("agentflow", run_name="__main__")
"""


@pytest.mark.parametrize(
    "model", ["none", f"script:{Path(__file__).resolve().parents[2] / 'examples' / 'scripts' / 'incident.yaml'}"]
)
def test_a_none_mode_or_scripted_run_imports_only_what_it_needs(tmp_path, model):
    """Measured with `python -X importtime`: the model SDK alone took a second of a run that used no model."""
    listing = tmp_path / "modules.txt"
    command = [sys.executable, "-c", _MODULES_AT_EXIT, str(listing), "run", "incident", "alert=DB pool exhausted",
               "--model", model, "--quiet"]  # fmt: skip
    ran = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy(), timeout=SLOW_MACHINE_SECONDS)
    assert ran.returncode == 0, ran.stderr
    loaded = set(listing.read_text().strip("[]\n").replace("'", "").split(", "))
    assert "mcp" in loaded and "agentflow.runner" in loaded  # the listing is of a real run
    assert sorted(m for m in NOT_IMPORTED_BY_A_RUN if m in loaded) == []
