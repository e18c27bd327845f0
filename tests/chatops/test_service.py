"""What the chat is told of an apply: applied, failed and budget-deferred changes each said as what they are."""

from __future__ import annotations

from agentflow.changes.plan import DEFERRED, Applied
from agentflow.chatops.jobs import Job
from agentflow.chatops.service import _applied_message


def test_an_apply_stopped_by_the_budget_is_said_so_not_called_a_failure():
    job = Job(kind="apply", run_id="20261201-incident-abc", actor="U_LEAD")
    results = [
        Applied(index=1, tool="create_jira_issue", summary="new Story: A", state="applied", detail="PROD-201"),
        Applied(index=2, tool="create_jira_issue", summary="new Story: B", state="applied", detail="PROD-202"),
        Applied(
            index=3,
            tool="create_jira_issue",
            summary="new Story: C",
            state=DEFERRED,
            detail="Not sent to eng.atlassian.net: the hourly budget is used up",
        ),
    ]
    text = message_text(_applied_message(job, results))
    assert "applied 2 of 3 changes" in text and "failed" not in text
    assert "stopped by the hourly rate budget* at `$3`" in text and "apply again later" in text
    assert "⏸️ `$3` new Story: C: Not sent to eng.atlassian.net" in text


def test_a_failed_change_is_still_a_failure():
    job = Job(kind="apply", run_id="20261201-incident-abc", actor="U_LEAD")
    results = [Applied(index=1, tool="add_jira_comment", summary="comment", state="failed", detail="HTTP 403")]
    text = message_text(_applied_message(job, results))
    assert "applied 0 of 1 changes" in text and "*1 failed*" in text and "❌ `$1`" in text


def message_text(message: dict) -> str:
    return " ".join(block["text"]["text"] for block in message["blocks"])
