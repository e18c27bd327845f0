"""Feature requests from interview transcripts: hand-made turns, then the example interview against the seed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp import Client

from agentflow.analysis.transcripts import feature_requests
from agentflow.atlassian.testing import server_for
from agentflow.sandbox.site import Site

pytestmark = pytest.mark.anyio

EXAMPLE = Path(__file__).parents[2] / "examples" / "transcripts" / "acme-finance-interview.md"


def stories(*pairs: tuple[str, str]) -> dict:
    return {"jql": "parent = PROD-100", "issues": [{"key": k, "summary": s} for k, s in pairs]}


def test_requests_run_from_the_asking_sentence_through_their_explanation() -> None:
    text = """\
- Interviewer: Alex Moss (PM)
- Customer: Sam Lee (Ops), Kim Wu

**Alex:** Would it help if we could export reports? Please tell me more.

**Sam:** We need audit trails for every refund. Auditors ask twice a year. It takes days.
Our team is small. That is why it hurts.

**Kim:** Nothing is broken today. I\u2019d love a dark mode.
**Kim:** It would be nice to have keyboard shortcuts for approvals. Also: please keep it fast.
"""
    found = feature_requests(text)
    assert [(r["speaker"], r["quote"], r["duplicate_of"]) for r in found["requests"]] == [
        # two explaining sentences at most
        ("Sam", "We need audit trails for every refund. Auditors ask twice a year. It takes days.", None),
        ("Kim", "I\u2019d love a dark mode.", None),  # a typographic apostrophe
        ("Kim", "It would be nice to have keyboard shortcuts for approvals.", None),
        ("Kim", "Also: please keep it fast.", None),
    ]
    assert [r["topic"] for r in found["requests"]] == ["audit trails refund auditors", "dark mode",
                                                       "keyboard shortcuts approvals", "fast"]  # fmt: skip
    assert found["duplicates"] == [] and found["new"] == found["requests"]


def test_without_a_header_the_first_speaker_interviews_and_a_pm_speaker_never_requests() -> None:
    text = "**Host:** I want to know what you need.\n\n**Ana:** We need SAML single sign-on.\n\n**PM:** Please go on."
    found = feature_requests(text, stories(("PROD-2", "Single sign-on with Okta (SAML)"), ("PROD-3", "Dark mode")))
    assert [(r["speaker"], r["duplicate_of"]) for r in found["requests"]] == [("Ana", "PROD-2")]
    assert found["duplicates"] == found["requests"] and found["new"] == []


def test_a_duplicate_needs_two_shared_words_and_half_the_title() -> None:
    existing = stories(("PROD-1", "Export reports to CSV"), ("PROD-5", "Weekly email digest of key metrics"))
    text = "**PM:** Hi.\n\n**Bo:** I want the export to keep filters.\n\n**Bo:** Please email me weekly metrics."
    found = feature_requests(text, existing)
    assert [r["duplicate_of"] for r in found["requests"]] == [None, "PROD-5"]


@pytest.mark.parametrize(
    ("text", "speakers"), [("", []), ("no turns at all", []), ("**:** x", []), ("**A:**\n**B:** please", ["B"])]
)
def test_odd_input_never_raises(text: str, speakers: list[str]) -> None:
    found = feature_requests(text, {"issues": [None, {"key": "P-1"}, {"summary": "x"}]})
    json.dumps(found)
    assert [r["speaker"] for r in found["requests"]] == speakers


@pytest.mark.parametrize("flavor", ["cloud", "dc"])
async def test_example_interview_against_the_seed_epic(flavor: str) -> None:
    jql = "parent = PROD-100" if flavor == "cloud" else '"Epic Link" = PROD-100'
    async with Client(server_for(Site.open(flavor))) as client:
        children = (await client.call_tool("search_jira_issues", {"jql": jql})).structured_content
    assert {i["key"] for i in children["issues"]} == {"PROD-101", "PROD-102", "PROD-103", "PROD-104"}

    found = feature_requests(EXAMPLE.read_text(encoding="utf-8"), children)
    assert [(r["speaker"], r["topic"], r["duplicate_of"]) for r in found["requests"]] == [
        ("Jordan", "export report csv excel", "PROD-101"),
        ("Jordan", "filters export excel", None),
        ("Mei", "edit invoices bulk", None),
        ("Jordan", "message finance channel payment", None),
        ("Jordan", "slack link invoice", None),
        ("Mei", "save filter", None),
        ("Mei", "payment details rate reconcile", None),
        ("Jordan", "log okta single sign", "PROD-102"),
    ]
    quotes = [r["quote"] for r in found["requests"]]
    assert quotes[0] == (
        "If I could just export any report to CSV and open it in Excel, that would save me a full day."
    )
    assert quotes[2] == "I'd love to select a bunch of invoices and edit them in one go — bulk edit, basically."
    assert quotes[4] == "Slack, please. Ideally with a link straight to the invoice."
    assert quotes[6] == "If the payment details showed the rate we applied, I could reconcile it myself."
    assert quotes[7].startswith("Oh — please don't make us log in twice. We're moving everyone to Okta")
    assert [r["duplicate_of"] for r in found["duplicates"]] == ["PROD-101", "PROD-102"]
    assert len(found["new"]) == 6
    assert not any(r["speaker"] == "Priya" for r in found["requests"])
