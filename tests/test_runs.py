"""Run records: what is saved is what is loaded, typed all the way down (applied changes included)."""

from __future__ import annotations

from agentflow import runs
from agentflow.changes.plan import DEFERRED, Applied, Change
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
