"""`agentflow run` and `agentflow runs` from the command line, against the state directory's sandbox."""

import json
from pathlib import Path

from typer.testing import CliRunner

from agentflow.cli import app

runner = CliRunner()
SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "scripts" / "incident.yaml"
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
