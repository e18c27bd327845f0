"""Backlog findings: hand-made issues, then the sandbox's real PROD backlog on both flavors."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from mcp import Client

from agentflow.analysis.grooming import grooming_findings
from agentflow.atlassian.testing import server_for
from agentflow.sandbox.site import Site

pytestmark = pytest.mark.anyio

NOW = "2026-11-26T00:00:00Z"


def issue(key: str, summary: str, updated: str = "2026-11-20T00:00:00.000+0000", **fields: object) -> dict:
    return {"key": key, "summary": summary, "type": "Story", "status_category": "To Do", "created": updated,
            "updated": updated, "labels": [], "story_points": 3.0, **fields}  # fmt: skip


def search(*issues: dict) -> dict:
    return {"jql": "project = PROD", "issues": list(issues)}


def test_stale_and_unestimated() -> None:
    found = grooming_findings(
        search(
            issue("P-1", "Improve the onboarding checklist", "2026-09-27T00:00:00.000+0000"),  # 60 days
            issue("P-2", "Review retention settings", "2026-09-28T00:00:00.000+0000"),  # 59 days
            issue("P-3", "Add pagination to invoices", story_points=None),
            issue("P-4", "Crash on empty fee column", type="Bug", story_points=None),
            issue("P-5", "Quarterly roadmap themes", type="Epic", story_points=None),
            issue("P-6", "Old finished work", "2020-01-01T00:00:00.000+0000", status_category="Done"),
        ),
        now=NOW,
    )
    assert found["stale"] == [{"key": "P-1", "summary": "Improve the onboarding checklist", "days_idle": 60}]
    assert found["unestimated"] == [
        {"key": "P-3", "summary": "Add pagination to invoices", "type": "Story"},
        {"key": "P-4", "summary": "Crash on empty fee column", "type": "Bug"},
    ]
    shorter = grooming_findings(search(issue("P-2", "Review retention", "2026-09-28")), stale_days=30, now=NOW)
    assert shorter["stale"][0]["days_idle"] == 59
    assert found["counts"]["issues"] == 5  # done work is not backlog


def test_under_specified_reads_descriptions_from_extra_or_the_issue_and_skips_unknown_ones() -> None:
    long_text = "The onboarding checklist should adapt to the plan the customer bought, per segment."
    adf = {"type": "doc", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Too short."}]}]}
    found = grooming_findings(
        search(
            issue("P-1", "Export reports as CSV", extra={"description": None}),
            issue("P-2", "Export reports as CSV", extra={"description": ""}),
            issue("P-3", "Search is slow", description="Search is slow."),
            issue("P-4", "Fix it"),
            issue("P-5", "Export the ledger", description=long_text),
            issue("P-6", "Export the ledger", description="Line one\nLine two"),
            issue("P-7", "Export the ledger", extra={"description": adf}),
            issue("P-8", "Roadmap", type="Epic", description=""),
        ),
        now=NOW,
    )
    assert [(u["key"], u["why"]) for u in found["under_specified"]] == [
        ("P-1", "no description"),
        ("P-2", "no description"),
        ("P-3", "one-line description (15 characters)"),
        ("P-4", "vague title"),
        ("P-7", "one-line description (10 characters)"),
    ]
    assert found["counts"]["description_unknown"] == 1


def test_duplicates_pair_titles_asking_for_the_same_thing_only() -> None:
    found = grooming_findings(
        search(
            issue("PROD-116", "Export invoices to PDF"),
            issue("PROD-115", "Allow exporting invoices as PDF"),
            issue("PROD-101", "Export reports to CSV"),
            issue("PROD-112", "Add pagination to the invoices list"),
            issue("PROD-120", "Export invoices to CSV"),
            issue("PROD-9", "Dark mode for the dashboard"),
            issue("PROD-10", "Dark mode for the dashboards"),
        ),
        now=NOW,
    )
    assert found["duplicates"] == [
        {"keys": ["PROD-9", "PROD-10"], "summaries": ["Dark mode for the dashboard", "Dark mode for the dashboards"],
         "similarity": 1.0},
        {"keys": ["PROD-115", "PROD-116"], "summaries": ["Allow exporting invoices as PDF", "Export invoices to PDF"],
         "similarity": 1.0},
    ]  # fmt: skip


def test_labels_to_add_skip_labels_already_there() -> None:
    found = grooming_findings(
        search(
            issue("P-1", "Export invoices to PDF", "2026-01-01", story_points=None, labels=["stale"]),
            issue("P-2", "Exporting invoices as PDF"),
            issue("P-3", "Good issue with a clear title"),
        ),
        now=NOW,
    )
    assert found["labels"] == {"P-1": ["needs-grooming", "possible-duplicate"], "P-2": ["possible-duplicate"]}
    assert found["counts"] == {"issues": 3, "stale": 1, "unestimated": 1, "under_specified": 0, "duplicates": 1,
                               "description_unknown": 3}  # fmt: skip


def test_now_defaults_to_the_latest_update() -> None:
    found = grooming_findings(search(issue("P-1", "Old thing here", "2026-01-01"), issue("P-2", "New thing here")))
    assert found["stale"] == [{"key": "P-1", "summary": "Old thing here", "days_idle": 323}]


@pytest.mark.parametrize("issues", [{}, {"issues": "x"}, {"issues": [None, {"summary": 3}, {"key": "P-1"}]}])
def test_odd_input_never_raises(issues: dict) -> None:
    found = grooming_findings(issues, now="garbage")
    json.dumps(found)
    assert found["stale"] == found["duplicates"] == []


@pytest.mark.parametrize("flavor", ["cloud", "dc"])
async def test_seed_backlog(flavor: str) -> None:
    site = Site.open(flavor)
    jql = "project = PROD AND statusCategory != Done ORDER BY key"
    async with Client(server_for(site)) as client:
        backlog = (await client.call_tool("search_jira_issues", {"jql": jql, "limit": 50})).structured_content
        now = datetime.fromtimestamp(site.store.now(), UTC).isoformat()
        found = grooming_findings(backlog, now=now)
        assert found["stale"] == [
            {"key": "PROD-110", "summary": "Improve the onboarding checklist", "days_idle": 95},
            {"key": "PROD-111", "summary": "Review audit log retention settings", "days_idle": 70},
        ]
        assert [u["key"] for u in found["unestimated"]] == ["PROD-112", "PROD-114"]
        assert found["under_specified"] == [{"key": "PROD-113", "summary": "Fix it", "why": "vague title"}]
        assert [d["keys"] for d in found["duplicates"]] == [["PROD-115", "PROD-116"]]
        assert found["labels"] == {
            "PROD-110": ["stale"],
            "PROD-111": ["stale"],
            "PROD-112": ["needs-grooming"],
            "PROD-113": ["needs-grooming"],
            "PROD-114": ["needs-grooming"],
            "PROD-115": ["possible-duplicate"],
            "PROD-116": ["possible-duplicate"],
        }

        # With the descriptions read (as a workflow's get_jira_issue steps would), thin ones are found too.
        for summary in backlog["issues"]:
            full = await client.call_tool("get_jira_issue", {"key": summary["key"]})
            summary["description"] = full.structured_content["description"]
    described = grooming_findings(backlog, now=now)
    assert [(u["key"], u["why"]) for u in described["under_specified"]] == [
        ("PROD-113", "no description; vague title"),
        ("PROD-114", "one-line description (15 characters)"),
    ]
    assert described["counts"]["description_unknown"] == 0


def _pairwise(backlog: list[dict]) -> list[tuple[list[str], float]]:
    """The duplicate pairs by comparing every pair of titles: what the indexed search must find, no more."""
    import difflib
    import itertools

    from agentflow.analysis.grooming import DUPLICATE_THRESHOLD, TITLE_FILLER, _key_order
    from agentflow.analysis.words import content_stems

    found = []
    for a, b in itertools.combinations(backlog, 2):
        a_words, b_words = content_stems(a["summary"], TITLE_FILLER), content_stems(b["summary"], TITLE_FILLER)
        shared = set(a_words) & set(b_words)
        if len(shared) < 2:
            continue
        jaccard = len(shared) / len(set(a_words) | set(b_words))
        ratio = difflib.SequenceMatcher(None, " ".join(sorted(a_words)), " ".join(sorted(b_words))).ratio()
        similarity = round(0.6 * jaccard + 0.4 * ratio, 2)
        if similarity >= DUPLICATE_THRESHOLD:
            found.append((sorted([a["key"], b["key"]], key=_key_order), similarity))
    return sorted(found, key=lambda pair: (-pair[1], [_key_order(k) for k in pair[0]]))


def test_the_indexed_duplicate_search_finds_what_comparing_every_pair_finds() -> None:
    import random

    words = ["export", "invoices", "csv", "payment", "failed", "slack", "alert", "filter", "saved", "bulk", "edit",
             "dashboard", "login", "report"]  # fmt: skip
    rng = random.Random(7)
    backlog = [
        {"key": f"P-{n}", "summary": " ".join(rng.sample(words, rng.randint(1, 5))), "status_category": "new"}
        for n in range(1, 400)
    ]
    found = grooming_findings({"issues": backlog})["duplicates"]
    assert [(pair["keys"], pair["similarity"]) for pair in found] == _pairwise(backlog)
    assert len(found) > 100  # identical titles and near ones both occur


def test_a_failed_search_is_not_complete_coverage() -> None:
    assert grooming_findings(None)["coverage"] == {
        "complete": False, "read": 0, "last_key": None, "last_created": None, "stopped": "the search failed"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("search", "coverage"),
    [
        ({"issues": [{"key": "P-1"}], "next_page_token": None}, {"complete": True, "read": 1}),
        (
            {
                "issues": [{"key": "P-1", "created": "2026-01-01"}, {"key": "P-2", "created": "2026-02-01"}],
                "next_page_token": "t",
                "paging": {"pages": 1, "complete": False, "stopped": "the step reads at most 1 pages (pages.max)"},
            },
            {"complete": False, "read": 2, "last_key": "P-2", "last_created": "2026-02-01",
             "stopped": "the step reads at most 1 pages (pages.max)"},
        ),
        (
            {"issues": [{"key": "P-1"}], "next_page_token": "t"},
            {"complete": False, "read": 1, "last_key": "P-1",
             "stopped": "the search step reads one page (set its pages)"},
        ),
    ],
)  # fmt: skip
def test_coverage_says_what_the_findings_rest_on(search, coverage) -> None:
    found = grooming_findings(search)["coverage"]
    assert {name: found[name] for name in coverage} == coverage
