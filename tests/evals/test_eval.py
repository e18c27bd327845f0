"""`agentflow eval`: suites of cases with passing and failing expectations, their table, JSON, JUnit and exit
codes; the built-in suite, and how it fails when a workflow's gather step or report template breaks."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path
from xml.etree import ElementTree

from typer.testing import CliRunner

from agentflow.cli import app

ROOT = Path(__file__).resolve().parents[2]


def suite(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_the_builtin_suite_passes_on_the_sandbox():
    result = CliRunner().invoke(app, ["eval", "builtin", "--json"])
    document = json.loads(result.stdout)
    broken = [c["name"] for c in document["cases"] if not c["passed"]]
    assert result.exit_code == 0 and document["passed"] and not broken, result.output
    assert len(document["cases"]) == 8 and {c["workflow"] for c in document["cases"]} == {
        "incident", "bug-triage", "transcript-to-stories", "backlog-grooming"
    }  # fmt: skip


def test_passing_and_failing_cases_give_the_table_json_junit_and_exit_1(tmp_path):
    path = suite(
        tmp_path,
        f"""\
        name: mixed
        cases:
          - name: holds
            workflow: incident
            inputs: {{alert: Database connection pool exhaustion}}
            model: script:{ROOT}/examples/scripts/incident.yaml
            expect:
              terminal_reason: completed
              output: [{{path: "$.suspects[0].key", equals: OPS-141}}]
          - name: breaks
            workflow: incident
            inputs: {{alert: Database connection pool exhaustion}}
            expect:
              report_contains: [a runbook that does not exist]
              output: [{{path: "$.owner", exists: true}}]
              max_requests: 3
        """,
    )
    junit = tmp_path / "out" / "junit.xml"
    junit.parent.mkdir()
    shown = CliRunner().invoke(app, ["eval", str(path), "--junit", str(junit)])
    assert shown.exit_code == 1, shown.output
    words = " ".join(shown.stdout.split())
    assert "holds pass 1/1" in words and "breaks FAIL 0/1" in words and "1 of 2 cases passed" in words
    assert "failed: breaks: report contains 'a runbook that does not exist': it does not" in words
    assert "failed: breaks: $.owner exists: found []" in words  # none mode has no answer to look in
    assert "failed: breaks: at most 3 Atlassian requests: it made 7" in words  # a workflow that asks too much
    tree = ElementTree.parse(junit).getroot()
    assert (tree.get("tests"), tree.get("failures")) == ("2", "1")
    [failure] = tree.iter("failure")
    assert "at most 3 Atlassian requests" in failure.text
    document = json.loads(CliRunner().invoke(app, ["eval", str(path), "--json", "--case", "breaks"]).stdout)
    [case] = document["cases"]
    assert not document["passed"] and case["name"] == "breaks"
    assert [v["passed"] for v in case["runs"][0]["verdicts"]] == [False, False, False]


def test_a_bad_suite_is_exit_2_with_file_and_line(tmp_path):
    path = suite(
        tmp_path,
        """\
        cases:
          - name: one
            workflow: incident
            expect:
              output: [{path: "$.[", equals: 1}]
              report_contain: [x]
        """,
    )
    result = CliRunner().invoke(app, ["eval", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "suite.yaml:5: cases[0].expect.output[0].path: '$.[' is not a JSONPath expression" in result.stderr
    assert (
        "suite.yaml:6: cases[0].expect.report_contain: unknown key 'report_contain'; did you mean 'report_contains'?"
        in result.stderr
    )
    missing = CliRunner().invoke(app, ["eval", str(tmp_path / "none.yaml")])
    assert missing.exit_code == 2 and "cannot read the suite" in missing.stderr
    unknown = CliRunner().invoke(app, ["eval", "builtin", "--case", "nope"])
    assert unknown.exit_code == 2 and "no case named 'nope'" in unknown.stderr


def _shadowed(tmp_path: Path, workflow: str, old: str, new: str) -> None:
    """A copy of a built-in workflow in ./workflows (which comes first) with `old` replaced by `new`."""
    (tmp_path / "workflows").mkdir(exist_ok=True)
    (tmp_path / "prompts").mkdir(exist_ok=True)
    for prompt in (ROOT / "prompts").iterdir():
        shutil.copy(prompt, tmp_path / "prompts" / prompt.name)
    text = (ROOT / "workflows" / f"{workflow}.yaml").read_text()
    assert old in text
    (tmp_path / "workflows" / f"{workflow}.yaml").write_text(text.replace(old, new))


def test_a_gather_step_that_finds_nothing_fails_the_builtin_suite_by_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _shadowed(tmp_path, "incident", "ORDER BY created DESC", "AND summary ~ nothing-matches ORDER BY created DESC")
    result = CliRunner().invoke(app, ["eval", "builtin", "--case", "incident, no model"])
    assert result.exit_code == 1, result.output
    assert "failed: incident, no model: report has '**OPS-141**' before" in " ".join(result.stdout.split())


def test_a_broken_report_template_fails_the_builtin_suite_by_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _shadowed(tmp_path, "bug-triage", "report: bug-triage.report.md.j2", "report: broken.report.md.j2")
    (tmp_path / "prompts" / "broken.report.md.j2").write_text("# {{ output.triage[0].nope }}\n")
    result = CliRunner().invoke(app, ["eval", "builtin", "--case", "bug-triage, scripted"])
    assert result.exit_code == 1, result.output
    words = " ".join(result.stdout.split())
    assert "failed: bug-triage, scripted: terminal_reason is completed: it ended report_error" in words
