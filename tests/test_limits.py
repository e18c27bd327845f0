"""Limits on everything parsed or passed on: alias bombs, deep nesting and oversized input are refused fast,
with a clear message and exit code 2, never a traceback, in every parser a person can feed."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client
from typer.testing import CliRunner

from agentflow.atlassian.testing import server_for
from agentflow.cli import app
from agentflow.host.gate import MAX_RESULT_CHARS, _capped
from agentflow.sandbox.site import Site

BOMB = (
    "\n".join(
        ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        + [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 9)]
    )
    + "\n"
)  # 10**9 values once expanded
DEEP = "a: " + "[" * 500 + "]" * 500 + "\n"


def refused(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, (result.exit_code, result.stderr, result.exception)
    assert message in result.stderr and "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(("text", "message"), [(BOMB, "more than 100,000 values"), (DEEP, "nests deeper than 64")])
def test_workflow_files_scripts_and_input_files_refuse_bombs_and_deep_nesting(tmp_path: Path, text, message):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(text)
    refused(["validate", str(bomb)], message)
    refused(["run", str(bomb)], message)
    refused(["run", "incident", "alert=pool", "--model", f"script:{bomb}"], message)
    refused(["run", "incident", "--input-file", str(bomb), "--model", "none"], message)


def test_oversized_files_and_values_are_refused_before_anything_starts(tmp_path: Path, monkeypatch):
    huge = tmp_path / "huge.yaml"
    huge.write_text("alert: " + "x" * (2 * 1024 * 1024) + "\n")
    refused(["validate", str(huge)], "at most 1,048,576 are read")
    refused(["run", "incident", f"alert={'x' * 70_000}", "--model", "none"], "an input value may have 65,536")
    monkeypatch.setenv("AGENTFLOW_MAX_INPUT_BYTES", "100000")
    assert CliRunner().invoke(app, ["run", "incident", f"alert={'x' * 70_000}", "--model", "none"]).exit_code == 0
    config = tmp_path / "config.toml"
    config.write_text("# " + "x" * (1024 * 1024 + 10) + "\n")
    monkeypatch.setenv("AGENTFLOW_CONFIG", str(config))
    refused(["run", "incident", "alert=pool", "--model", "none"], "at most 1,048,576")


@pytest.mark.anyio
async def test_a_query_too_long_is_an_error_result_not_a_traceback():
    async with Client(server_for(Site.open("cloud"))) as client:
        result = await client.call_tool("search_confluence_pages", {"cql": 'text ~ "' + "x" * 20_000 + '"'})
    assert result.is_error and "10000" in result.content[0].text


def test_a_huge_result_is_cut_with_a_note_before_the_record_and_the_model():
    text = _capped("y" * (MAX_RESULT_CHARS + 5_000))
    assert len(text) < MAX_RESULT_CHARS + 200 and text.endswith(
        "[... 5,000 more characters cut: ask for less, e.g. a narrower query]"
    )
    assert _capped("short") == "short"


@pytest.mark.parametrize("text", [
    "a: !!int abc\n", "a: !!python/object:os.system ls\n", "a: !foo bar\n", "a: !!timestamp notatime\n",
    "a: {<<: 5}\n", "a: " + "9" * 5000 + "\n",
])  # fmt: skip
def test_values_yaml_cannot_build_are_a_clear_error_not_a_traceback(tmp_path: Path, text: str):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    refused(["validate", str(bad)], "bad.yaml:1: YAML value error")
    refused(["run", "incident", "--input-file", str(bad), "--model", "none"], "YAML value error")


def test_a_long_key_list_and_a_huge_integer_are_refused(tmp_path: Path):
    keys = tmp_path / "keys.yaml"
    keys.write_text("keys: [" + ", ".join(f"AB-{n}" for n in range(1, 20_000)) + "]\n")
    refused(["run", "bug-triage", "--input-file", str(keys), "--model", "none"], "an input value may have 65,536")
    refused(["run", "backlog-grooming", "project=PROD", "stale_days=" + "9" * 60_000, "--model", "none"],
            "is not a sensible value")  # fmt: skip
