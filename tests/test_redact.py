"""One redaction for every channel: a secret typed into an input reaches no output a person or a service sees."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import anyio
import pytest
from typer.testing import CliRunner

from agentflow import audit, runs
from agentflow.chatops.slack_format import blocks_for_run, text_fallback
from agentflow.cli import app
from agentflow.schedule.delivery import slack_message
from agentflow.webhooks import post

CANARY = "ATATT3xFfGF0" + "canary" * 6  # shaped like an Atlassian API token


def test_a_secret_typed_into_an_input_appears_in_no_output_channel(tmp_path: Path):
    output = tmp_path / "report.md"
    cli = CliRunner()
    alert = f"DB pool exhausted; token {CANARY}"
    terminal = cli.invoke(app, ["run", "incident", f"alert={alert}", "--model", "none", "--output", str(output)])
    as_json = cli.invoke(app, ["run", "incident", f"alert={alert}", "--model", "none", "--json"])
    assert terminal.exit_code == 0 and as_json.exit_code == 0, terminal.stderr + as_json.stderr
    record = runs.load("last")
    sent: list[dict] = []

    def send(url: str, payload: dict) -> int:
        sent.append(payload)
        return 200

    payload = {"text": slack_message(record), "blocks": blocks_for_run(record)}
    anyio.run(functools.partial(post, "http://127.0.0.1/hook", payload, send=send))
    channels = {
        "terminal": terminal.stdout + terminal.stderr,
        "--json": as_json.stdout,
        "--output": output.read_text(),
        "run record": (runs.runs_dir() / f"{record.id}.json").read_text(),
        "audit": json.dumps(list(audit.read())),
        "slack blocks": json.dumps(blocks_for_run(record)) + text_fallback(record),
        "scheduled delivery": slack_message(record),
        "webhook": json.dumps(sent),
    }
    for channel, text in channels.items():
        assert CANARY not in text, channel
    assert "[REDACTED]" in channels["--output"] and "[REDACTED]" in channels["--json"]


@pytest.mark.anyio
async def test_a_webhook_payload_is_scrubbed_before_it_leaves():
    sent: list[dict] = []

    def send(url: str, payload: dict) -> int:
        sent.append(payload)
        return 200

    await post("http://127.0.0.1/hook", {"text": f"key {CANARY}", "blocks": [{"text": CANARY}]}, send=send)
    assert CANARY not in json.dumps(sent) and sent[0]["text"] == "key [REDACTED]"


def test_a_secret_after_a_line_break_or_with_quotes_is_scrubbed_from_the_record(monkeypatch):
    monkeypatch.setenv("DB_PASSWORD", 'Pa"ssw\\ord-9876543')
    bearer, key = "F" * 20, "sk-ant-api03-" + "D" * 24
    alert = f'DB pool exhausted\n{CANARY}\n{key}\nAuthorization: Bearer {bearer}\nPa"ssw\\ord-9876543'
    ran = CliRunner().invoke(app, ["run", "incident", f"alert={alert}", "--model", "none", "--json"])
    assert ran.exit_code == 0, ran.stderr
    record_text = (runs.runs_dir() / f"{runs.load('last').id}.json").read_text()
    for text in (ran.stdout, record_text):
        for secret in (CANARY, key, bearer, "ssw"):
            assert secret not in text
