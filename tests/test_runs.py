"""Run records: what is saved is what is loaded, typed all the way down (applied changes included)."""

from __future__ import annotations

import json

import pytest

from agentflow import runs
from agentflow.changes.plan import DEFERRED, Applied, Change
from agentflow.errors import ConfigError
from agentflow.report import describe_reason
from agentflow.runs import RunRecord, TerminalReason, Usage


def test_a_record_saved_and_loaded_is_equal_to_the_one_in_memory():
    record = RunRecord(
        id="20261201-070005-backlog-grooming-6b8bb1",
        workflow="backlog-grooming",
        started_at="2026-12-01T07:00:05+00:00",
        terminal_reason=TerminalReason.BUDGET,
        usage=Usage(input_tokens=120, output_tokens=30),
        changes=[Change(index=1, tool="update_jira_issue", server="atlassian", arguments={"key": "PROD-110"})],
        applied=[
            Applied(index=1, tool="update_jira_issue", summary="label PROD-110", state="applied", detail="done"),
            Applied(index=2, tool="add_jira_comment", summary="comment", state=DEFERRED, detail="no room"),
        ],
    )
    runs.save(record)
    loaded = runs.load(record.id)
    assert loaded == record
    assert isinstance(loaded.applied[0], Applied) and loaded.terminal_reason is TerminalReason.BUDGET
    assert not loaded.succeeded


def test_a_record_from_a_newer_version_is_still_listed_and_shown():
    record = RunRecord(
        id="20261202-080000-incident-aaaaaa", workflow="incident", started_at="2026-12-02T08:00:00+00:00"
    )
    path = runs.save(record)
    newer = json.loads(path.read_text())
    newer["terminal_reason"] = "some_future_reason"
    newer["tool_calls"] = [{"turn": 1, "id": "t1", "tool": "x", "status": "deferred_by_policy"}]
    path.write_text(json.dumps(newer))
    [listed] = runs.list_runs()
    assert listed.terminal_reason == "some_future_reason" and listed.tool_calls[0].status == "deferred_by_policy"
    assert describe_reason(listed.terminal_reason) == "ended: some_future_reason"


def test_last_is_the_newest_record_or_an_error_never_an_older_one():
    old = RunRecord(id="20261201-070000-incident-aaaaaa", workflow="incident", started_at="2026-12-01T07:00:00+00:00")
    runs.save(old)
    assert runs.load("last").id == old.id
    (runs.runs_dir() / "20261201-080000-incident-bbbbbb.json").write_text("{ not json")
    with pytest.raises(ConfigError, match=r"the run record .* is damaged or unreadable .*; move it aside"):
        runs.load("last")
