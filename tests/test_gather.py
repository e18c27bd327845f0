"""Gather steps that read a search page by page: as far as `pages` allows, within the run's budget, and saying
in the result's `paging` what was not read and why."""

from __future__ import annotations

import json

import pytest

from agentflow.agent.scripted import ScriptedModel
from agentflow.atlassian.testing import server_for
from agentflow.budget import Budget, Settings
from agentflow.errors import WorkflowInvalid
from agentflow.ledger import SQLiteLedger
from agentflow.runner import Runner, RunRequest
from agentflow.sandbox.site import Site

pytestmark = pytest.mark.anyio

PAGED = """\
name: paged
title: Paged
tools: [search_jira_issues]
steps:
  - id: backlog
    tool: search_jira_issues
    args: {{jql: "project = PROD ORDER BY key ASC", limit: 5}}
    pages: {pages}
agent: {{prompt: minimal.md.j2}}
output: {{schema: {{type: object}}, report: paged.report.md.j2}}
budget: {{max_calls: {cap}}}
"""


async def gathered(project, site: Site, pages: str, cap: int = 100, model=None) -> tuple[dict, object]:
    project.workflow("paged", PAGED.format(pages=pages, cap=cap))
    project.prompt("paged.report.md.j2", "{{ steps.backlog | to_json }}")
    budget = Budget(SQLiteLedger(":memory:"), Settings(per_hour=1000))
    runner = Runner(model=model, bundled=lambda quota: server_for(site, user="pm", quota=quota), budget=budget)
    record = (await runner.execute(RunRequest(workflow="paged", model=None if model else "none"))).record
    [step] = record.steps
    return step, record


def keys(site: Site) -> list[str]:
    rows = site.store.query(
        "SELECT i.key FROM issues i JOIN projects p ON p.id = i.project_id WHERE p.key = 'PROD' ORDER BY i.number"
    )
    return [row[0] for row in rows]


async def test_a_step_reads_every_page_when_it_may(project):
    site = Site.open("cloud")
    step, record = await gathered(project, site, "10")
    assert step.status == "ok" and step.requests >= 3  # 12 PROD issues, 5 a page
    result = record_result(record)
    assert [issue["key"] for issue in result["issues"]] == keys(site)
    assert result["paging"] == {"pages": 3, "complete": True, "stopped": None}
    assert result["next_page_token"] is None


async def test_pages_max_stops_it_and_says_so(project):
    _, record = await gathered(project, Site.open("dc"), "2")
    result = record_result(record)
    assert len(result["issues"]) == 10 and result["next_page_token"]
    assert result["paging"] == {
        "pages": 2,
        "complete": False,
        "stopped": "the step reads at most 2 pages (pages.max)",
    }


async def test_it_leaves_the_agent_its_share_of_the_runs_budget(project):
    answers = ScriptedModel.from_turns([[{"type": "tool_use", "name": "submit_result", "input": {}}]])
    _, record = await gathered(project, Site.open("cloud"), "{max: 10, leave: 8}", cap=10, model=answers)
    result = record_result(record)
    assert result["paging"]["complete"] is False
    assert result["paging"]["stopped"].endswith("and the step leaves 8 of them to the agent (pages.leave)")
    assert record.requests() <= 10 - 8 + 1  # it stopped before going below what the agent keeps


async def test_without_a_model_nothing_is_left_for_an_agent(project):
    _, record = await gathered(project, Site.open("cloud"), "{max: 10, leave: 8}", cap=10)
    assert record_result(record)["paging"] == {"pages": 3, "complete": True, "stopped": None}


def test_pages_go_with_tool_steps_only(project):
    from agentflow.workflow import loader

    project.workflow(
        "bad",
        """\
        name: bad
        title: Bad
        steps:
          - {id: x, compute: grooming_findings, pages: 3}
        agent: {prompt: minimal.md.j2}
        output: {schema: {type: object}}
        """,
    )
    with pytest.raises(WorkflowInvalid, match="'pages' goes with a 'tool' step"):
        loader.load("bad")


def record_result(record) -> dict:
    """The step's result as templates see it (the report renders it as JSON)."""
    return json.JSONDecoder().raw_decode(record.report)[0]


@pytest.mark.parametrize("pages", ["abc", "true", "2.5", "'3'"])
def test_pages_of_the_wrong_kind_say_what_they_take(project, pages):
    from agentflow.workflow import loader

    project.workflow("paged", PAGED.format(pages=pages, cap=10))
    with pytest.raises(WorkflowInvalid) as caught:
        loader.load("paged")
    assert "takes a number of pages (pages: 50) or {max: 50, leave: 40}" in str(caught.value)
    assert "PagesSpec" not in str(caught.value)
