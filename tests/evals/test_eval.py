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
    assert "failed: breaks: at most 3 Atlassian requests: it made 4" in words  # a workflow that asks too much
    tree = ElementTree.parse(junit).getroot()
    assert (tree.get("tests"), tree.get("failures")) == ("2", "1")
    [failure] = tree.iter("failure")
    assert "at most 3 Atlassian requests" in failure.text
    document = json.loads(CliRunner().invoke(app, ["eval", str(path), "--json", "--case", "breaks"]).stdout)
    [case] = document["cases"]
    assert not document["passed"] and case["name"] == "breaks"
    assert [v["passed"] for v in case["runs"][0]["verdicts"]] == [True, False, False, False]


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


def test_a_case_that_says_nothing_of_its_ending_expects_completed(tmp_path):
    script = tmp_path / "short.yaml"
    script.write_text("- - {type: text, text: Looking.}\n  - {type: tool_use, name: update_plan, input: {steps: []}}\n")
    path = suite(
        tmp_path,
        f"""\
        cases:
          - name: the script runs out
            workflow: incident
            inputs: {{alert: Database connection pool exhaustion}}
            model: script:{script.name}
            expect: {{report_contains: [Database]}}
        """,
    )
    result = CliRunner().invoke(app, ["eval", str(path)])
    assert result.exit_code == 1
    assert "terminal_reason is completed: it ended model_error" in " ".join(result.stdout.split())


def test_output_checks_hold_every_condition_they_give_on_every_match(tmp_path):
    checks = [
        ('{path: "$.owner", exists: true, equals: Nobody}', False),  # both conditions, not the first alone
        ('{path: "$.suspects[0].key", equals: OPS-141, contains: XYZ}', False),
        ('{path: "$.suspects[*].key", equals: [OPS-141, OPS-140, OPS-139]}', True),  # several matches: their list
        ('{path: "$.suspects[*].key", contains: OPS-140}', True),  # an item of the list, not its JSON text
        ('{path: "$.dependents", contains: web}', False),
        ('{path: "$.runbook.title", min_items: 3}', False),  # a string has no items
        ('{path: "$.nothing", equals: null}', False),  # null is a value to compare, and nothing is there
        ('{path: "$.runbook.title", equals: true}', False),
    ]
    cases = "".join(
        f"""
          - name: check {number}
            workflow: incident
            inputs: {{alert: Database connection pool exhaustion}}
            model: script:{ROOT}/examples/scripts/incident.yaml
            expect: {{output: [{text}]}}"""
        for number, (text, _) in enumerate(checks)
    )
    path = tmp_path / "checks.yaml"
    path.write_text("cases:" + cases + "\n")
    document = json.loads(CliRunner().invoke(app, ["eval", str(path), "--json"]).stdout)
    assert [case["passed"] for case in document["cases"]] == [expected for _, expected in checks]


def test_cases_that_cannot_run_as_written_are_a_bad_suite_with_their_lines(tmp_path):
    path = suite(
        tmp_path,
        """\
        cases:
          - name: typo in the workflow
            workflow: incidnet
          - name: bad input
            workflow: backlog-grooming
            inputs: {project: not a key}
          - name: no such script
            workflow: incident
            inputs: {alert: x}
            model: script:missing.yaml
          - name: no such user, wrong ending, a tool it cannot call
            workflow: incident
            inputs: {alert: x}
            user: nobody
            expect:
              terminal_reason: complete
              changes: {count: {add_jira_coment: 0}}
        """,
    )
    result = CliRunner().invoke(app, ["eval", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    errors = result.stderr
    assert "suite.yaml:16: cases[3].expect.terminal_reason: " in errors  # checked first, with the suite's shape
    assert "suite.yaml:3: cases[0].workflow: unknown workflow 'incidnet'" not in errors  # one pass at a time
    fixed = path.read_text().replace("terminal_reason: complete\n", "terminal_reason: completed\n")
    path.write_text(fixed)
    errors = CliRunner().invoke(app, ["eval", str(path)]).stderr
    assert "suite.yaml:3: cases[0].workflow: unknown workflow 'incidnet'" in errors
    assert "suite.yaml:6: cases[1].inputs:" in errors and "project" in errors
    assert "suite.yaml:10: cases[2].model: " in errors and "missing.yaml" in errors
    assert "suite.yaml:14: cases[3].user: the sandbox has no user 'nobody'" in errors
    assert "cases[3].expect: changes.count names 'add_jira_coment', which incident may not call" in errors
