"""The audit log: one private JSON line per call, secrets scrubbed, read back filtered; `-` means stdout."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agentflow import audit
from agentflow.errors import ConfigError
from tests.conftest import staged_stories

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


def test_a_line_a_full_disk_cut_short_is_taken_back_and_unreadable_lines_are_named(monkeypatch):
    import errno
    import os

    from typer.testing import CliRunner

    from agentflow import statefiles
    from agentflow.cli import app

    who = audit.Actor(actor="priya", trigger="cli", run_id="20261201-run-a", workflow="incident")
    audit.record(who, server="atlassian", tool="get_jira_issue", arguments={}, outcome="ok", duration_ms=1, requests=1)
    path = audit.log_path()
    before = path.read_bytes()
    real = os.write

    def half(descriptor: int, data: bytes) -> int:  # the disk takes ten bytes, then is full
        real(descriptor, bytes(data[:10]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as patch:
        patch.setattr(os, "write", half)
        with pytest.raises(statefiles.StateError, match="the disk is full"):
            audit.record(who, server="atlassian", tool="x", arguments={}, outcome="ok", duration_ms=1, requests=1)
    assert path.read_bytes() == before  # no half line for the next one to run into
    with path.open("ab") as handle:
        handle.write(b'{"time": "2026-12-01T0\n\xff\xfe garbage\n')
    audit.record(who, server="atlassian", tool="search_jira_issues", arguments={}, outcome="ok", duration_ms=1,
                 requests=1)  # fmt: skip
    shown = CliRunner().invoke(app, ["audit", "--json"])
    assert shown.exit_code == 0 and "Traceback" not in shown.output
    assert [line["tool"] for line in map(__import__("json").loads, shown.stdout.splitlines())] == [
        "get_jira_issue", "search_jira_issues"
    ]  # fmt: skip
    assert "2 line(s) of the audit log could not be read (line 2, 3)" in shown.stderr


def test_apply_finds_an_unwritable_audit_log_before_it_writes_anything():

    from typer.testing import CliRunner

    from agentflow import config, runs
    from agentflow.cli import app
    from agentflow.sandbox.site import Site

    cli = CliRunner()
    staged_stories()
    site = Site.open("cloud", config.sandbox_db())
    before = site.store.query_one("SELECT COUNT(*) FROM issues")[0]
    log = audit.log_path()
    log.unlink()
    log.mkdir()  # in the log's place, as a mistaken `mkdir` or a volume mount leaves it
    refused = cli.invoke(app, ["apply", "last", "--yes"])
    assert refused.exit_code == 2 and "audit.log" in refused.stderr and "Traceback" not in refused.output
    assert site.store.query_one("SELECT COUNT(*) FROM issues")[0] == before  # nothing made, so nothing unaudited
    assert runs.load("last").apply_started_at is None


def test_the_stable_digest_sets_moments_and_generated_ids_aside_and_nothing_else():
    one = "PAY-429 updated 2026-12-01T04:52:10+00:00 (2 hours ago), component ari:cloud:compass:abc:component/x/y"
    later = "PAY-429 updated 2026-12-01T04:53:10+00:00 (3 hours ago), component ari:cloud:compass:def:component/z/w"
    assert audit.digest(one) != audit.digest(later) and audit.stable_digest(one) == audit.stable_digest(later)
    assert audit.stable_digest(one) != audit.stable_digest(one.replace("PAY-429", "PAY-430"))
