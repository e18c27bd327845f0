"""Slack rendering: Markdown -> mrkdwn construct by construct, the splitting of a report into sections, and the
Block Kit message for real runs, every block checked against Slack's limits and parsed by slack_sdk."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from agentflow.agent.scripted import ScriptedModel
from agentflow.atlassian.testing import server_for
from agentflow.changes.plan import Applied, Change
from agentflow.chatops import slack_format
from agentflow.chatops.slack_format import (
    blocks_for_run,
    ephemeral,
    in_channel,
    pending_changes,
    split_sections,
    text_fallback,
    to_mrkdwn,
)
from agentflow.runner import Runner, RunRequest
from agentflow.runs import RunRecord
from agentflow.sandbox.site import Site

SCRIPTS = Path(__file__).resolve().parents[2] / "examples" / "scripts"
FENCE = re.compile(r"^[> ]*```$", re.MULTILINE)

# --- Markdown -> mrkdwn -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markdown", "mrkdwn"),
    [
        ("# Incident: DB pool", "*Incident: DB pool*"),
        ("## Runbook: **pool** _exhaustion_", "*Runbook: pool _exhaustion_*"),
        ("**bold**", "*bold*"),
        ("*italic* and _italic_", "_italic_ and _italic_"),
        ("~~gone~~", "~gone~"),
        ("run `helm rollback <svc>`", "run `helm rollback &lt;svc&gt;`"),
        ("```python\nif a < b:\n    pass\n```", "```\nif a &lt; b:\n    pass\n```"),
        ("    indented code", "```\nindented code\n```"),
        ("[OPS-141](https://jira.example.com/browse/OPS-141)", "<https://jira.example.com/browse/OPS-141|OPS-141>"),
        ("[a **b** `c`](https://x.io/?q=1&r=2)", "<https://x.io/?q=1&amp;r=2|a b c>"),
        ("[x](https://x.io/a|b)", "<https://x.io/a%7Cb|x>"),
        ("[runs](runs/42) and [top](#top)", "runs and top"),
        ("<https://x.io/page>", "<https://x.io/page>"),
        ("<ops@example.com>", "<mailto:ops@example.com>"),
        ("![diagram](https://x.io/d.png)", "<https://x.io/d.png|diagram>"),
        ("a & b < c > d", "a &amp; b &lt; c &gt; d"),
        ("<!channel> <@U123> <div>", "&lt;!channel&gt; &lt;@U123&gt; &lt;div&gt;"),
        ("&amp; \\*not emphasis\\*", "&amp; *not emphasis*"),
        ("**Owner:** Dana\n**Team:** Payments", "*Owner:* Dana\n*Team:* Payments"),
        ("one  \ntwo", "one\ntwo"),
        ("- a\n- b", "• a\n• b"),
        ("- a\n  - b\n    - c\n- d", "• a\n    • b\n        • c\n• d"),
        ("1. one\n2. two", "1. one\n2. two"),
        ("3. three\n4. four", "3. three\n4. four"),
        ("- item\n\n  more of it", "• item\n    more of it"),
        ("1. step\n   ```\n   code\n   ```", "1. step\n    ```\n    code\n    ```"),
        ("> quoted **text**\n> more", "> quoted *text*\n> more"),
        ("> one\n>\n> two", "> one\n>\n> two"),
        ("---", "―" * 24),
        ("a\n\n***\n\nb", "a\n\n" + "―" * 24 + "\n\nb"),
        ("", ""),
    ],
)
def test_each_construct_becomes_its_mrkdwn(markdown: str, mrkdwn: str) -> None:
    assert to_mrkdwn(markdown) == mrkdwn


def test_a_table_becomes_aligned_columns_in_a_code_block() -> None:
    markdown = "| # | tool | count |\n|---|:-:|--:|\n| $1 | **add** `x` | 3 |\n| $12 | [link](https://l.io) | 120 |\n"
    assert to_mrkdwn(markdown) == (
        "```\n"
        "#           tool          count\n"
        "---  -------------------  -----\n"
        "$1          add x             3\n"
        "$12  link (https://l.io)    120\n"
        "```"
    )


def test_table_cells_are_escaped_and_wide_characters_count_double() -> None:
    assert to_mrkdwn("| a | b |\n|---|---|\n| 漢字 | <x> |\n| ab | y |") == (
        "```\na     b\n----  ---\n漢字  &lt;x&gt;\nab    y\n```"
    )


def test_backtick_runs_in_text_and_code_cannot_open_or_close_a_code_block() -> None:
    text = to_mrkdwn("a ```` b\n\n~~~\n```\nnot a fence\n```\n~~~")
    assert FENCE.findall(text) == ["```", "```"]  # only the two the converter wrote
    assert "`\u200b`\u200b``" in text


@pytest.mark.parametrize(
    "markdown",
    [
        "\x00\ufffd\r\n\t",
        ">" * 200 + " deep",
        "- " * 100 + "deep",
        "[unclosed](",
        "| a |\n|---|\n| b | extra | cells |",
        "**unclosed _mixed ~~markers",
        "```\nnever closed",
        "<script>alert(1)</script>",
        "[x](javascript:alert(1))",
        "# " + "long " * 2000,
    ],
)
def test_odd_input_never_raises(markdown: str) -> None:
    assert isinstance(to_mrkdwn(markdown), str)


def test_unsafe_link_schemes_stay_text() -> None:
    assert "<javascript" not in to_mrkdwn("[x](javascript:alert(1))")


# --- splitting into sections --------------------------------------------------------------------------------------


def test_a_short_text_is_one_section() -> None:
    assert split_sections("*a*\n\nb") == ["*a*\n\nb"]
    assert split_sections("") == []


def test_sections_are_cut_between_paragraphs() -> None:
    paragraphs = [f"paragraph {n} " + "x" * 900 for n in range(10)]
    chunks = split_sections("\n\n".join(paragraphs))
    assert all(len(chunk) <= 3000 for chunk in chunks)
    assert [p for chunk in chunks for p in chunk.split("\n\n")] == paragraphs


def test_a_long_paragraph_is_cut_between_lines_and_a_long_line_at_a_space() -> None:
    lines = [f"line {n} " + "y" * 90 for n in range(100)]
    chunks = split_sections("\n".join(lines))
    assert len(chunks) > 1 and all(len(chunk) <= 3000 for chunk in chunks)
    assert [line for chunk in chunks for line in chunk.split("\n")] == lines
    words = " ".join(["word"] * 2000)
    cut = split_sections(words)
    assert all(len(chunk) <= 3000 for chunk in cut)
    assert " ".join(cut) == words


def test_a_code_block_cut_in_two_is_closed_and_reopened() -> None:
    code = "\n".join(f"row {n:04}: " + "z" * 60 for n in range(200))
    text = to_mrkdwn(f"Before.\n\n```\n{code}\n```\n\nAfter.")
    chunks = split_sections(text)
    assert len(chunks) >= 5 and all(len(chunk) <= 3000 for chunk in chunks)
    for chunk in chunks:
        assert len(FENCE.findall(chunk)) % 2 == 0, chunk[:80]
    assert all(chunk.startswith("```\n") for chunk in chunks[1:])
    assert chunks[0].startswith("Before.") and chunks[-1].endswith("```\n\nAfter.")
    rows = [line for chunk in chunks for line in chunk.split("\n") if line.startswith("row ")]
    assert rows == code.split("\n")


def test_a_quoted_code_block_is_reopened_inside_the_quote() -> None:
    code = "\n".join(f"> row {n}" + "q" * 80 for n in range(100))
    chunks = split_sections(f"> ```\n{code}\n> ```", limit=1000)
    assert len(chunks) > 3
    assert all(chunk.startswith("> ```\n") and chunk.endswith("\n> ```") for chunk in chunks)
    assert all(len(chunk) <= 1000 for chunk in chunks)


# --- the message for a run ----------------------------------------------------------------------------------------


def record(report: str = "# Done\n\nAll good.", **fields: Any) -> RunRecord:
    defaults = {
        "id": "20261126-081502-incident-3f9a",
        "workflow": "incident",
        "started_at": "2026-11-26T08:15:02+00:00",
        "terminal_reason": "completed",
        "duration_s": 2.5,
        "cost_usd": 0.0123,
        "report": report,
    }
    return RunRecord(**(defaults | fields))


def change(index: int, target: str = "PAY-429", summary: str = "comment: triage") -> Change:
    return Change(
        index=index, tool="add_jira_comment", server="atlassian", arguments={}, target=target, summary=summary
    )


def check_block_kit(blocks: list[dict[str, Any]]) -> None:
    """Every block as Slack requires it: known types, text objects of the right type and length, slack_sdk agreeing."""
    assert 1 <= len(blocks) <= 50
    for block in blocks:
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text" and 0 < len(block["text"]["text"]) <= 150
        elif block["type"] == "section":
            assert block["text"]["type"] == "mrkdwn" and 0 < len(block["text"]["text"]) <= 3000
        else:
            assert block["type"] == "context"
            assert 1 <= len(block["elements"]) <= 10
            assert all(e["type"] == "mrkdwn" and 0 < len(e["text"]) <= 3000 for e in block["elements"])
        parsed = Block.parse(block)
        assert parsed is not None
        parsed.validate_json()
        assert parsed.to_dict() == block
    texts = [b["text"]["text"] for b in blocks if "text" in b] + [
        e["text"] for b in blocks for e in b.get("elements", [])
    ]
    assert sum(map(len, texts)) <= slack_format.MESSAGE_TEXT_LIMIT


def mrkdwn_of(blocks: list[dict[str, Any]]) -> str:
    return "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")


def test_a_small_run_is_header_report_and_facts() -> None:
    run = record()
    blocks = blocks_for_run(run)
    check_block_kit(blocks)
    assert [b["type"] for b in blocks] == ["header", "section", "context"]
    assert blocks[0]["text"]["text"] == "incident: completed"
    assert blocks[1]["text"]["text"] == "*Done*\n\nAll good."
    facts = " ".join(e["text"] for e in blocks[-1]["elements"])
    assert "*completed*" in facts and "2.5 s" in facts and "Atlassian requests" in facts and "~$0.0123" in facts
    assert run.id in facts


def test_the_header_fits_in_150_characters() -> None:
    blocks = blocks_for_run(record(workflow="w" * 200, terminal_reason="model_error", error="boom " * 1000))
    check_block_kit(blocks)
    assert len(blocks[0]["text"]["text"]) == 150 and blocks[0]["text"]["text"].endswith("…")


def test_a_run_without_a_report_still_makes_a_valid_message() -> None:
    blocks = blocks_for_run(record(report=None, terminal_reason="model_error", error="the API said <no>"))
    check_block_kit(blocks)
    assert blocks[1]["text"]["text"] == "_(no report)_"
    assert "&lt;no&gt;" in blocks[-1]["elements"][0]["text"]


def test_a_run_whose_report_template_failed_says_so_names_the_template_and_shows_the_answer() -> None:
    error = "prompts/noted.report.md.j2:3: undefined: 'dict object' has no attribute 'note'"
    answer = '```json\n{\n  "answer": "42"\n}\n```'
    report = f"> The report template failed, so the answer is shown as JSON: {error}\n\n# Noted\n\n{answer}\n"
    blocks = blocks_for_run(record(report, workflow="noted", terminal_reason="report_error", error=error))
    check_block_kit(blocks)
    assert blocks[0]["text"]["text"] == "noted: failed: the report template could not render the answer"
    assert '"answer": "42"' in mrkdwn_of(blocks)
    assert "has no attribute 'note'" in blocks[-1]["elements"][0]["text"]


def test_a_huge_report_is_cut_with_a_notice_saying_how_to_see_it_all() -> None:
    run = record(report="\n\n".join(f"## Part {n}\n\n" + "lorem ipsum " * 150 for n in range(400)))
    blocks = blocks_for_run(run)
    check_block_kit(blocks)
    notice = blocks[-2]
    assert notice["type"] == "context" and f"`agentflow runs show {run.id}`" in notice["elements"][0]["text"]
    assert "cut" in notice["elements"][0]["text"]
    assert mrkdwn_of(blocks).startswith("*Part 0*")


def test_the_block_cap_is_50_when_the_text_allows_more(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slack_format, "MESSAGE_TEXT_LIMIT", 10**9)
    run = record(report="\n\n".join("p" * 2000 for _ in range(80)), changes=[change(1)])
    blocks = blocks_for_run(run)
    assert len(blocks) == 50
    assert [b["type"] for b in blocks[-4:]] == ["section", "context", "section", "context"]
    assert "agentflow runs show" in blocks[-3]["elements"][0]["text"]
    assert "/agentflow apply" in blocks[-2]["text"]["text"]
    assert all(b["type"] == "section" and len(b["text"]["text"]) <= 3000 for b in blocks[1:-3])


def test_a_report_that_just_fits_is_not_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slack_format, "MESSAGE_TEXT_LIMIT", 10**9)
    blocks = blocks_for_run(record(report="\n\n".join("p" * 2000 for _ in range(48))))
    assert len(blocks) == 50 and not any("agentflow runs show" in str(b) for b in blocks)


def test_staged_changes_are_listed_with_the_apply_commands() -> None:
    run = record(changes=[change(1, summary="comment: **Triage:** `x` & <y>"), change(2, "PAY-430")])
    blocks = blocks_for_run(run)
    check_block_kit(blocks)
    listing = blocks[-2]["text"]["text"]
    assert listing.split("\n") == [
        "*2 staged changes, not applied yet*",
        "`$1` add_jira_comment PAY-429: comment: *Triage:* `x` &amp; &lt;y&gt;",
        "`$2` add_jira_comment PAY-430: comment: triage",
        f"Apply them with `/agentflow apply {run.id}` (or `agentflow apply {run.id}` in a terminal).",
    ]
    assert text_fallback(run) == f"incident: completed, 2 staged changes to review (run {run.id})"


def test_without_permission_to_apply_there_is_no_apply_command() -> None:
    blocks = blocks_for_run(record(changes=[change(1)]), apply_allowed=False)
    check_block_kit(blocks)
    assert "$1" in blocks[-2]["text"]["text"] and "agentflow apply" not in mrkdwn_of(blocks)


def test_a_long_change_plan_is_capped() -> None:
    run = record(changes=[change(n, summary="s" * 500) for n in range(1, 41)])
    blocks = blocks_for_run(run)
    check_block_kit(blocks)
    lines = blocks[-2]["text"]["text"].split("\n")
    assert len(lines) == 1 + slack_format.CHANGES_SHOWN + 2
    assert lines[-2] == f"…and 28 more: `agentflow runs show {run.id} --changes`"


def test_changes_applied_by_the_writes_policy_are_not_offered_again() -> None:
    applied = [Applied(index=n, tool="t", summary="s", state="applied") for n in (1, 2)]
    failed = [Applied(index=3, tool="t", summary="s", state="failed")]
    run = record(changes=[change(n) for n in range(1, 5)], applied=applied + failed)
    assert [c.index for c in pending_changes(run)] == [3, 4]
    assert [c.index for c in pending_changes(record(changes=[change(1)], applied=applied))] == []
    assert [b["type"] for b in blocks_for_run(record(changes=[change(1)], applied=applied))][-2] == "section"


def test_the_text_fallback_and_reply_payloads() -> None:
    run = record(workflow="a&b" * 2000)
    assert len(text_fallback(run)) <= 3000 and "a&amp;b" in text_fallback(run)
    assert ephemeral("working on it") == {"response_type": "ephemeral", "text": "working on it"}
    blocks = blocks_for_run(record())
    assert in_channel(blocks, "t") == {"response_type": "in_channel", "blocks": blocks, "text": "t"}


# --- real runs, made the way the CLI makes them ---------------------------------------------------------------------


async def run_workflow(workflow: str, inputs: dict[str, str], user: str, scripted: bool = True) -> RunRecord:
    site = Site.open("cloud")
    model = ScriptedModel(SCRIPTS / f"{workflow}.yaml") if scripted else None
    runner = Runner(model=model, bundled=lambda quota: server_for(site, user=user, quota=quota), budget=None)
    request = RunRequest(workflow=workflow, inputs=inputs, model=None if scripted else "none")
    return (await runner.execute(request)).record


@pytest.mark.anyio
async def test_an_incident_run_shows_the_runbook_and_the_suspect_deployment() -> None:
    run = await run_workflow("incident", {"alert": "Database connection pool exhaustion"}, "sre")
    blocks = blocks_for_run(run)
    check_block_kit(blocks)
    text = mrkdwn_of(blocks)
    assert "*Runbook: Database connection pool exhaustion*" in text
    assert "1. *OPS-141*" in text and "`helm rollback payment-gateway`" in text
    assert "**" not in text and "## " not in text
    assert blocks[0]["text"]["text"] == "incident: completed" and run.id in str(blocks[-1])


@pytest.mark.anyio
async def test_an_incident_run_without_a_model_makes_a_valid_message() -> None:
    run = await run_workflow("incident", {"alert": "x"}, "sre", scripted=False)
    blocks = blocks_for_run(run)
    check_block_kit(blocks)
    assert "No model ran" in mrkdwn_of(blocks) and "OPS-141" in mrkdwn_of(blocks)


@pytest.mark.anyio
async def test_a_bug_triage_run_offers_the_staged_comment_with_the_apply_command() -> None:
    run = await run_workflow("bug-triage", {"keys": "PAY-429"}, "dev")
    blocks = blocks_for_run(run)
    check_block_kit(blocks)
    listing = blocks[-2]["text"]["text"]
    assert "`$1` add_jira_comment PAY-429: comment: *Triage:*" in listing
    assert f"`/agentflow apply {run.id}`" in listing and f"`agentflow apply {run.id}`" in listing
    assert "```\n#   tool" in mrkdwn_of(blocks)  # the report's change table, as columns
    assert "1 staged change to review" in text_fallback(run)
