"""`agentflow servers login / status / logout` and runs through a signed-in remote server, from the command line:
the sandbox's Rovo-like endpoint behind its OAuth server, a browser that is a real process approving over HTTP
(Python's `webbrowser` runs `$BROWSER`), a workflow that names Rovo's tools, a scheduled run deferred when the
sign-in cannot be refreshed, and a canary: no token in any file agentflow wrote, any output or any log."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import anyio
import httpx2
import pytest
from typer.testing import CliRunner

from agentflow import config, runs
from agentflow.cli import app
from agentflow.host.credentials import CredentialStore, open_vault
from agentflow.sandbox.rovo.oauth import OAuthSettings
from agentflow.sandbox.site import Site, running
from tests.conftest import ROOT, SLOW_MACHINE_SECONDS, Project
from tests.support.clock import Clock

ACCESS_TTL = 3600.0
runner = CliRunner()


@dataclass
class Signed:
    site: Site
    url: str
    clock: Clock
    config: Path

    @property
    def v1(self) -> str:
        return f"{self.url}/v1/mcp"

    @property
    def cloud_id(self) -> str:
        return self.site.app.state.cloud_id

    def store(self) -> CredentialStore:
        return CredentialStore(open_vault(), clock=self.clock)


def invoke(*args: str, **options: object):
    return runner.invoke(app, list(args), catch_exceptions=False, **options)  # type: ignore[arg-type]


ROVO_WORKFLOW = """\
name: rovo-search
title: Search Jira through Rovo
inputs:
  cloud: {type: string, required: true}
  jql: {type: string, required: true}
servers: [rovo]
tools: [searchJiraIssuesUsingJql, getJiraIssue]
steps:
  - id: found
    tool: searchJiraIssuesUsingJql
    args: {cloudId: "{{ inputs.cloud }}", jql: "{{ inputs.jql }}"}
agent: {prompt: minimal.md.j2}
output: {schema: {type: object}}
"""


@pytest.fixture
def rovo(project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Signed]:
    clock = Clock()
    site = Site.open("cloud", clock=clock, oauth=OAuthSettings(access_ttl=ACCESS_TTL))
    with running(site) as url:
        path = tmp_path / "config.toml"
        path.write_text(
            f'[servers.rovo]\nurl = "{url}/v1/mcp"\nauth = "oauth"\n'
            f'scopes = ["read:jira-work", "offline_access"]\nstartup_timeout = {SLOW_MACHINE_SECONDS}\n'
        )
        monkeypatch.setenv("AGENTFLOW_CONFIG", str(path))
        monkeypatch.setenv("BROWSER", f"{sys.executable} -m tests.support.browser %s")
        monkeypatch.setenv("PYTHONPATH", str(ROOT))
        monkeypatch.setenv("CONSENT_USER", "pm")
        project.workflow("rovo-search", ROVO_WORKFLOW)
        yield Signed(site, url, clock, path)


def test_login_then_a_workflow_naming_rovos_tools_runs_through_it(rovo: Signed) -> None:
    signed = invoke("servers", "login", "rovo", "--timeout", str(SLOW_MACHINE_SECONDS))
    assert signed.exit_code == 0, signed.output
    pm = rovo.site.user("pm")
    assert f"Signed in to rovo as {pm.display_name}" in signed.output
    assert "read:jira-work offline_access" in signed.output

    ran = invoke("run", "rovo-search", f"cloud={rovo.cloud_id}", "jql=key = PAY-429", "--model", "none", "--quiet")
    assert ran.exit_code == 0, ran.output
    record = runs.load("last")
    assert record.succeeded and "PAY-429" in json.dumps(record.model_dump(mode="json"))

    status = invoke("servers", "status", "--json")
    shown = {row["name"]: row for row in map(json.loads, status.output.splitlines())}
    assert shown["rovo"]["state"] == "signed in" and pm.display_name in shown["rovo"]["account"]
    assert shown["rovo"]["scopes"] == ["read:jira-work", "offline_access"] and shown["rovo"]["expires_at"]
    table = invoke("servers", "status", env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "signed in" in table.output and pm.display_name in table.output

    stored = rovo.store().sign_in("rovo", rovo.v1)
    assert stored is not None
    for secret in (stored.tokens.access_token, stored.tokens.refresh_token or ""):
        assert secret not in signed.output + ran.output + status.output + table.output

    out = invoke("servers", "logout", "rovo")
    assert out.exit_code == 0 and "revoked" in out.output
    assert rovo.store().sign_in("rovo", rovo.v1) is None
    again = invoke("run", "rovo-search", f"cloud={rovo.cloud_id}", "jql=key = PAY-429", "--model", "none", "--quiet")
    assert again.exit_code == 3 and "agentflow servers login rovo" in again.output


def test_login_without_a_browser_takes_the_pasted_address(rovo: Signed, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.browser import approve

    def paste(text: str, err: bool = False) -> str:
        return approve(shown[-1], "lead")

    shown: list[str] = []
    monkeypatch.setattr("typer.prompt", paste)
    monkeypatch.setattr("agentflow.cli.signin._say", lambda text: shown.append(text.rsplit("\n", 1)[-1].strip()))
    signed = invoke("servers", "login", "rovo", "--no-browser")
    assert signed.exit_code == 0, signed.output
    assert rovo.site.user("lead").display_name in signed.output


def test_login_refuses_servers_that_do_not_sign_in_with_oauth(rovo: Signed) -> None:
    rovo.config.write_text(rovo.config.read_text().replace('auth = "oauth"', 'auth = "none"').replace("scopes", "#"))
    refused = invoke("servers", "login", "rovo")
    assert refused.exit_code == 2 and 'set auth = "oauth"' in refused.output
    unknown = invoke("servers", "login", "nowhere")
    assert unknown.exit_code == 2 and "no MCP server named 'nowhere'" in unknown.output


def test_a_scheduled_run_whose_sign_in_cannot_be_refreshed_is_deferred_and_delivered(
    rovo: Signed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from agentflow.schedule.scheduler import Scheduler
    from agentflow.schedule.settings import ScheduleSettings  # noqa: F401 - the config below is what it reads

    caplog.set_level(logging.DEBUG)
    assert invoke("servers", "login", "rovo", "--timeout", str(SLOW_MACHINE_SECONDS)).exit_code == 0
    stored = rovo.store().sign_in("rovo", rovo.v1)
    assert stored is not None and stored.tokens.refresh_token
    # The refresh token was used elsewhere: the server ends the sign-in (rotation's reuse detection).
    with httpx2.Client(base_url=rovo.url, timeout=SLOW_MACHINE_SECONDS) as http:
        form = {
            "grant_type": "refresh_token",
            "client_id": stored.client_id,
            "refresh_token": stored.tokens.refresh_token,
        }
        assert http.post("/token", data=form).status_code == 200
    # The stored access token has expired by the store's clock; the store reads the wall clock in the CLI.
    store = rovo.store()
    store.save_sign_in(stored.model_copy(update={"expires_at": time.time() - 10}))

    report = tmp_path / "delivered" / "{workflow}-{date}.md"
    project_yaml = Path("workflows/rovo-search.yaml")
    project_yaml.write_text(
        ROVO_WORKFLOW.replace("name: rovo-search\n", "name: rovo-search\nschedule: {cron: '0 3 * * *'}\n")
    )
    rovo.config.write_text(
        rovo.config.read_text()
        + f'\n[schedule]\nmodel = "none"\ngrace = "6h"\n[schedule.inputs.rovo-search]\ncloud = "{rovo.cloud_id}"\n'
        + 'jql = "key = PAY-429"\n[schedule.delivery]\n'
        + f"file = {json.dumps(str(report))}\n"
    )
    three_am = datetime.now(UTC).replace(hour=3, minute=0, second=0, microsecond=0)
    moments = iter([three_am.replace(minute=1)] * 1000)
    scheduler = Scheduler(clock=lambda: next(moments))
    outcomes = anyio.run(scheduler.run_due)
    [outcome] = [o for o in outcomes if o.workflow == "rovo-search"]
    assert outcome.state == "deferred", outcome
    assert "agentflow servers login rovo" in (outcome.reason or "") and "invalid_grant" in (outcome.reason or "")
    delivered = list(report.parent.glob("*.md"))
    assert delivered and "agentflow servers login rovo" in delivered[0].read_text()

    everything = (
        "\n".join(
            path.read_text(errors="replace")
            for path in config.state_dir().rglob("*")
            if path.is_file() and path.name != "keyring.json"
        )
        + caplog.text
        + "\n".join(p.read_text() for p in delivered)
    )
    assert stored.tokens.access_token not in everything and stored.tokens.refresh_token not in everything


def test_the_scheduler_warns_of_a_missing_sign_in_before_anything_is_due(rovo: Signed) -> None:
    Path("workflows/rovo-search.yaml").write_text(
        ROVO_WORKFLOW.replace("name: rovo-search\n", "name: rovo-search\nschedule: {cron: '0 3 * * *'}\n")
    )
    before = invoke("schedule", "--dry-run")
    assert before.exit_code == 0, before.output
    assert "warning: rovo (used by rovo-search): not signed in; sign in: agentflow servers login rovo" in before.stderr
    assert invoke("servers", "login", "rovo", "--timeout", str(SLOW_MACHINE_SECONDS)).exit_code == 0
    after = invoke("schedule", "--dry-run")
    assert after.exit_code == 0 and "warning" not in after.stderr


def test_a_denied_sign_in_says_so_without_a_traceback(
    rovo: Signed, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("CONSENT_DECISION", "deny")
    denied = invoke("servers", "login", "rovo", "--timeout", str(SLOW_MACHINE_SECONDS))
    assert denied.exit_code == 2
    assert "signing in to 'rovo' failed" in denied.output and "access_denied" in denied.output
    assert "Traceback" not in denied.output
    assert not [record.getMessage() for record in caplog.records if record.exc_info]  # logged nowhere either


def test_logout_that_cannot_revoke_keeps_the_sign_in_and_exits_1(rovo: Signed) -> None:
    assert invoke("servers", "login", "rovo", "--timeout", str(SLOW_MACHINE_SECONDS)).exit_code == 0
    store = rovo.store()
    found = store.sign_in("rovo", rovo.v1)
    assert found is not None
    store.save_sign_in(found.model_copy(update={"revocation_endpoint": "http://127.0.0.1:9/revoke"}))
    kept = invoke("servers", "logout", "rovo")
    assert kept.exit_code == 1 and "kept" in kept.output and "--forget" in kept.output
    forgotten = invoke("servers", "logout", "rovo", "--forget")
    assert forgotten.exit_code == 0 and "forgotten" in forgotten.output
    assert invoke("servers", "logout", "rovo").output.startswith("rovo: not signed in")


def test_a_paste_that_never_comes_cancels_the_sign_in_and_changes_nothing(rovo: Signed) -> None:
    cancelled = invoke("servers", "login", "rovo", "--no-browser", input="")
    assert cancelled.exit_code == 130 and "sign-in cancelled; nothing changed" in cancelled.output
    assert rovo.store().sign_in("rovo", rovo.v1) is None
    assert invoke("servers", "login", "rovo", "--scope", "a b").exit_code == 2
