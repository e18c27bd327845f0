"""What a scheduled run's delivery says, for a record just made and for the same record read back from disk."""

from __future__ import annotations

from agentflow import runs
from agentflow.changes.plan import Applied, Change
from agentflow.runs import RunRecord, TerminalReason
from agentflow.schedule.delivery import slack_message


def test_the_slack_message_is_the_same_for_a_record_read_back_from_disk():
    record = RunRecord(
        id="20261201-070005-backlog-grooming-6b8bb1",
        workflow="backlog-grooming",
        started_at="2026-12-01T07:00:05+00:00",
        terminal_reason=TerminalReason.COMPLETED,
        output={"summary": "3 stale issues labelled; 2 comments wait for you."},
        changes=[
            Change(index=n, tool="update_jira_issue", server="atlassian", arguments={"key": f"PROD-{n}"})
            for n in (1, 2, 3)
        ],
        applied=[Applied(index=1, tool="update_jira_issue", summary="label", state="applied")],
    )
    runs.save(record)
    fresh, loaded = slack_message(record), slack_message(runs.load(record.id))
    assert fresh == loaded
    assert "Applied without asking: 1 change." in loaded
    assert "2 changes wait for approval: `agentflow apply 20261201-070005-backlog-grooming-6b8bb1`" in loaded
