"""The audit log: one private JSON line per call, secrets scrubbed, read back filtered; `-` means stdout."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agentflow import audit
from agentflow.errors import ConfigError

WHO = audit.Actor(actor="sam", trigger="cli", run_id="run-a1", workflow="incident")


def test_a_line_per_call_private_scrubbed_and_read_back_by_run_and_tool():
    secret = "sk-ant-" + "q" * 30
    audit.record(WHO, server="atlassian", tool="get_jira_issue", arguments={"key": "PAY-429", "note": secret},
                 outcome="ok", duration_ms=12.34, requests=2, result=f"body with {secret}")  # fmt: skip
    other = audit.Actor(actor="ann", trigger="chatops", run_id="run-b2", workflow="bug-triage")
    audit.record(other, server="atlassian", tool="search_jira_issues", arguments={}, outcome="budget",
                 duration_ms=0, requests=0, kind="apply")  # fmt: skip
    path = audit.log_path()
    assert oct(path.stat().st_mode & 0o777) == "0o600" and secret not in path.read_text()
    [line] = audit.read(run_id="run-a")
    assert (line["tool"], line["requests"], line["duration_ms"], line["arguments"]["note"]) == (
        "get_jira_issue", 2, 12.3, "[REDACTED]",
    )  # fmt: skip
    assert [entry["kind"] for entry in audit.read(tool="search_jira_issues")] == ["apply"]
    assert len(list(audit.read(since=timedelta(hours=1)))) == 2


def test_since_is_read_as_people_write_it():
    assert audit.parse_since("30m") == timedelta(minutes=30) and audit.parse_since(" 2d ") == timedelta(days=2)
    with pytest.raises(ConfigError, match="--since must look like 30m, 1h, 2d or 1w, not 'soon'"):
        audit.parse_since("soon")


def test_standard_output_instead_of_a_file(monkeypatch, capsys):
    monkeypatch.setenv("AGENTFLOW_AUDIT_LOG", "-")
    audit.record(WHO, server="x", tool="y", arguments={}, outcome="ok", duration_ms=1, requests=0)
    assert '"tool": "y"' in capsys.readouterr().out
    with pytest.raises(ConfigError, match="there is no file to read"):
        list(audit.read())
