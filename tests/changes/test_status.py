"""The change section a report ends with: a table whose states and one closing sentence agree, at the end of a
run and after apply (`runs show` rewrites a stale one)."""

from __future__ import annotations

import pytest

from agentflow.changes.journal import Journal
from agentflow.changes.plan import Stager
from agentflow.changes.status import current_report, plan_section
from agentflow.runs import RunRecord
from agentflow.workflow.schema import WritesSpec

CREATE = {"type": "object", "properties": {"summary": {"type": "string"}}}


def staged(count: int = 3) -> list:
    stager = Stager(WritesSpec())
    stager.stage("create_jira_issue", "atlassian", CREATE, {"summary": "Pipes | in text", "project": "PROD",
                                                              "issue_type": "Story"})  # fmt: skip
    for n in range(2, count + 1):
        stager.stage("add_jira_comment", "atlassian", {"type": "object"}, {"key": f"PROD-{n}", "body": f"c{n}"})
    return stager.plan


def journal(**states) -> Journal:
    """`journal(applied={1: {...result}}, failed={2: "why"})`."""
    made = Journal(run_id="run-1")
    for index, result in states.get("applied", {}).items():
        made.entry(index).state, made.entry(index).result = "applied", result
    for index, error in states.get("failed", {}).items():
        made.entry(index).state, made.entry(index).error = "failed", error
    return made


def test_nothing_applied_says_so_and_how_to_apply():
    section = plan_section(staged(), journal(), set(), "run-1")
    assert "| $1 | create_jira_issue | project PROD | new Story: Pipes \\| in text | staged |" in section
    assert section.endswith(
        "Nothing has been written: 3 staged, not written until a person applies them. Review with "
        "`agentflow runs show run-1 --changes`, then apply with `agentflow apply run-1` (or `--only 1,3`)."
    )


@pytest.mark.parametrize(
    ("states", "unasked", "rows", "sentence"),
    [
        (
            {"applied": {1: {"key": "PROD-121", "url": "https://acme.atlassian.net/browse/PROD-121"}}},
            set(),
            ["| applied: [PROD-121](https://acme.atlassian.net/browse/PROD-121) |", "| staged |"],
            "1 applied; 2 staged, not written until a person applies them. Review with `agentflow runs show run-1 "
            "--changes`, then apply the rest with `agentflow apply run-1`: what is applied is skipped.",
        ),
        (
            {"applied": {2: {"key": "PROD-2"}, 3: {"key": "PROD-3"}}},
            {2, 3},
            ["| applied without asking (writes policy): PROD-2 |", "| staged |"],
            "2 applied without asking (writes policy); 1 staged, not written until a person applies them.",
        ),
        (
            {"applied": {1: {"key": "PROD-121"}, 2: {"key": "PROD-2"}}, "failed": {3: "PROD-3 said: no | way"}},
            set(),
            ["| failed: PROD-3 said: no \\| way |"],
            "2 applied; 1 failed (see the table).",
        ),
        (
            {"applied": {1: {"key": "PROD-121"}, 2: {"key": "PROD-2"}, 3: {"key": "PROD-3"}}},
            {3},
            ["| applied without asking (writes policy): PROD-3 |"],
            "All 3 changes are applied, 1 of them without asking (writes policy).",
        ),
    ],
)
def test_the_sentence_agrees_with_the_table(states, unasked, rows, sentence):
    section = plan_section(staged(), journal(**states), unasked, "run-1")
    for row in rows:
        assert row in section
    assert sentence in section.splitlines()[-1]
    if states.get("applied"):
        assert "Nothing has been written" not in section


def test_a_change_cut_off_while_applying_is_not_called_unwritten():
    cut = journal()
    cut.entry(2).state = "applying"
    section = plan_section(staged(), cut, set(), "run-1")
    assert "Nothing has been written" not in section
    assert "1 cut off while applying, perhaps written (apply again: it is looked up first); 2 staged" in section


def test_a_single_change_gets_no_only_example():
    assert "--only" not in plan_section(staged(1), journal(), set(), "run-1")


def test_runs_show_replaces_the_section_the_run_ended_with(monkeypatch):
    changes = staged()
    record = RunRecord(
        id="run-1",
        workflow="w",
        started_at="2026-12-01T06:00:00+00:00",
        inputs={},
        changes=changes,
        report="# Found\n\nThings.",
    )
    monkeypatch.setattr(Journal, "load", classmethod(lambda cls, run_id: journal()))
    record.report = current_report(record)
    assert record.report.startswith("# Found\n\nThings.\n\n## Changes") and "Nothing has been written" in record.report
    applied = journal(applied={1: {"key": "PROD-121"}, 2: {"key": "PROD-2"}, 3: {"key": "PROD-3"}})
    monkeypatch.setattr(Journal, "load", classmethod(lambda cls, run_id: applied))
    shown = current_report(record)
    assert shown.count("## Changes") == 1 and "Nothing has been written" not in shown
    assert shown.endswith("All 3 changes are applied.") and "| applied: PROD-121 |" in shown


def test_a_report_of_an_earlier_version_gets_its_plan_replaced(monkeypatch):
    old = "# Found\n\n## Proposed changes\n\n| # | tool | target | summary |\n|---|---|---|---|\n\nNothing written."
    record = RunRecord(
        id="run-1", workflow="w", started_at="2026-12-01T06:00:00+00:00", inputs={}, changes=staged(1), report=old
    )
    monkeypatch.setattr(Journal, "load", classmethod(lambda cls, run_id: journal(applied={1: {"key": "PROD-121"}})))
    assert current_report(record) == (
        "# Found\n\n## Changes\n\n| # | tool | target | summary | state |\n|---|---|---|---|---|\n"
        "| $1 | create_jira_issue | project PROD | new Story: Pipes \\| in text | applied: PROD-121 |\n\n"
        "The change is applied."
    )
