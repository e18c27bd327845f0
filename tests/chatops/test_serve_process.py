"""`agentflow serve` as a user starts it: refuses to run unverified, and end to end as a real process."""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys

import httpx2
from typer.testing import CliRunner

from agentflow.cli import app
from tests.chatops.conftest import SECRET, command, signed
from tests.chatops.test_app import texts
from tests.conftest import SLOW_MACHINE_SECONDS


def test_serve_refuses_to_start_without_a_secret_or_token():
    result = CliRunner().invoke(app, ["serve", "--port", "0"])
    assert result.exit_code == 2
    assert "SLACK_SIGNING_SECRET" in result.output and "AGENTFLOW_API_TOKEN" in result.output


def test_serve_refuses_a_blank_secret_and_an_impossible_port(monkeypatch):
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "   ")
    blank = CliRunner().invoke(app, ["serve", "--port", "0"])
    assert blank.exit_code == 2 and "SLACK_SIGNING_SECRET" in blank.output
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)
    port = CliRunner().invoke(app, ["serve", "--port", "70000"])
    assert port.exit_code == 2 and "65535" in port.output


def test_serve_rejects_a_bad_chatops_config(tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text("[chatops]\nworkers = 0\n")
    monkeypatch.setenv("AGENTFLOW_CONFIG", str(config))
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)
    result = CliRunner().invoke(app, ["serve", "--port", "0"])
    assert result.exit_code == 2 and "[chatops]" in result.output and "workers" in result.output


def test_agentflow_serve_answers_a_signed_incident_command_and_posts_the_result(receiver):
    env = {**os.environ, "SLACK_SIGNING_SECRET": SECRET}
    process = subprocess.Popen(
        [sys.executable, "-m", "agentflow", "serve", "--port", "0", "--model", "none"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            assert selector.select(timeout=SLOW_MACHINE_SECONDS), "agentflow serve printed nothing"
        banner = process.stdout.readline() if process.stdout else ""
        found = re.search(r"at (http://127\.0\.0\.1:\d+)", banner)
        assert found, banner + (process.stderr.read() if process.stderr else "")
        body, headers = signed(command("incident Database connection pool exhaustion", receiver))
        ack = httpx2.post(
            f"{found.group(1)}/slack/commands", content=body, headers=headers, timeout=SLOW_MACHINE_SECONDS
        )
        assert ack.status_code == 200 and "Running `incident`" in ack.json()["text"]
        unsigned = httpx2.post(f"{found.group(1)}/slack/commands", content=body, timeout=SLOW_MACHINE_SECONDS)
        assert unsigned.status_code == 401

        (result,) = receiver.wait(1)
        shown = texts(result)
        assert "*Runbook: Database connection pool exhaustion*" in shown and "helm rollback payment-gateway" in shown
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(SLOW_MACHINE_SECONDS)
    log = process.stderr.read() if process.stderr else ""
    assert "U_SRE in T1/C_INC: run" in log and "Traceback" not in log
    assert SECRET not in log
