"""Incident suspects and runbook steps: hand-made inputs, then the sandbox's real OPS changes and runbook."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from mcp import Client

from agentflow.analysis.ranking import rank_changes, runbook_steps
from agentflow.atlassian.testing import server_for
from agentflow.sandbox.site import Site

pytestmark = pytest.mark.anyio

ALERT = "Database connection pool exhaustion"
NOW = "2026-11-26T12:00:00Z"


def change(key: str, summary: str, created: str | None, kind: str = "Deployment", **fields: object) -> dict:
    return {"key": key, "summary": summary, "type": kind, "created": created, **fields}


def search(*issues: dict) -> dict:
    return {"jql": "project = OPS", "issues": list(issues), "total": len(issues), "next_page_token": None}


CHANGES = search(
    change("OPS-4", "Rotate keys", "2026-11-26T13:00:00.000+0000", kind="Change"),
    change("OPS-3", "Update checkout copy text", "2026-11-26T12:00:00.000+0000", components=["checkout-web"]),
    change("OPS-2", "Lower worker timeout", "2026-11-26T00:00:00.000+0000", kind="Change"),
    change("OPS-1", "Raise exhausted connections limit", "2026-11-25T12:00:00.000+0000", kind="Bug"),
)


def test_scores_recency_type_capacity_words_and_alert_words() -> None:
    result = rank_changes(CHANGES, ALERT, now=NOW)
    assert [(s["key"], s["score"], s["age"], s["why"]) for s in result["suspects"]] == [
        # 0.75 (a day old: two half-lives) + 2 (a limit) + 2 (two alert words, stemmed to meet)
        ("OPS-1", 4.75, "24 hours ago",
         ["raises exhausted connections limit", "bug created 24 hours ago",
          "matches the alert: connection, exhaustion"]),
        # 1.5 (one half-life) + 1 (a change) + 2 (a timeout)
        ("OPS-2", 4.5, "12 hours ago", ["lowers worker timeout", "change 12 hours ago"]),
        # 3 (now) + 1 (a deployment) - 1 (cosmetic)
        ("OPS-3", 3.0, "just now", ["deployment just now", "looks cosmetic (copy, text)"]),
        # made after the alert: only its type counts
        ("OPS-4", 1.0, "in 1 hour", ["change after the alert"]),
    ]  # fmt: skip
    assert result["suspects"][0]["when"] == "2026-11-25T12:00:00.000+0000"
    assert result["service"] is None  # the top suspect names no component


def test_the_service_and_its_neighbours_add_suspicion() -> None:
    component = {
        "name": "payment-gateway",
        "depends_on": [{"id": "1", "name": "payments-db"}],
        "dependents": [{"id": "2", "name": "checkout-web"}],
    }
    changes = search(
        change("OPS-7", "Deploy payment-gateway 1.2", NOW),
        change("OPS-6", "Vacuum tables", NOW, labels=["payments-db"]),
        change("OPS-5", "Deploy checkout-web 3.1", NOW, components=["checkout-web"]),
        change("OPS-8", "Deploy payment-gateway-admin 1.0", NOW),  # a longer name is another service
    )
    result = rank_changes(changes, "High latency", component=component, now=NOW)
    assert [(s["key"], s["score"], s["why"][-1]) for s in result["suspects"]] == [
        ("OPS-7", 7.0, "touches payment-gateway"),
        ("OPS-6", 5.5, "touches payments-db, which payment-gateway depends on"),
        ("OPS-5", 5.0, "touches checkout-web, which depends on payment-gateway"),
        ("OPS-8", 4.0, "deployment just now"),
    ]
    assert result["service"] == "payment-gateway"
    assert rank_changes(changes, "x", service="checkout-web", now=NOW)["suspects"][0]["key"] == "OPS-5"


def test_service_falls_back_to_the_top_suspects_component_and_now_to_the_newest_change() -> None:
    changes = search(
        change("OPS-2", "Deploy api", "2026-11-26T10:00:00.000+0000", components=["customer-api", "edge"]),
        change("OPS-1", "Deploy api", "2026-11-25T10:00:00.000+0000", components=["other"]),
    )
    result = rank_changes(changes, "api errors")
    assert result["service"] == "customer-api"
    assert [s["age"] for s in result["suspects"]] == ["just now", "24 hours ago"]


@pytest.mark.parametrize(
    "changes", [{}, {"issues": None}, {"issues": ["x", {}, {"key": 5}]}, search(change("OPS-1", "", None, kind=""))]
)
def test_odd_input_never_raises(changes: dict) -> None:
    result = rank_changes(changes, "", component={"depends_on": "nope"}, now="not a time")
    json.dumps(result)
    assert all(s["key"] == "OPS-1" and s["age"] is None and s["score"] == 0.0 for s in result["suspects"])


def test_runbook_steps_from_the_steps_section() -> None:
    body = """\
Intro with a list that is not the procedure:

1. Not this one

## Procedure

Do these in order.

1. Open the [dashboard](https://grafana.example.com/d/1) and **check** the *pool*
   maximum, which is wrapped.
2. Run this:

   ```sql
   SELECT 1;
   1. not a step
   ```
3) Roll back with `helm rollback x` (keep `**stars**` in code)
   - a nested detail

## Afterwards

1. Not a step either
"""
    result = runbook_steps({"title": "Runbook", "url": "https://wiki/x", "body": body})
    assert result == {
        "title": "Runbook",
        "url": "https://wiki/x",
        "steps": [
            "Open the dashboard and check the pool maximum, which is wrapped.",
            "Run this:\n\n```sql\nSELECT 1;\n1. not a step\n```",
            "Roll back with `helm rollback x` (keep `**stars**` in code)\n\n- a nested detail",
        ],
    }


def test_a_step_keeps_its_tables_sub_lists_and_paragraphs() -> None:
    body = """\
## Steps

1. Compare with the thresholds:

   | Metric | Critical |
   | --- | --- |
   | wait p99 | 2 s |

   Then decide.
10. Page the team:
    - primary on call
    - their lead
11. Close.
"""
    assert runbook_steps({"title": "T", "body": body})["steps"] == [
        "Compare with the thresholds:\n\n| Metric | Critical |\n| --- | --- |\n| wait p99 | 2 s |\n\nThen decide.",
        "Page the team:\n\n- primary on call\n- their lead",
        "Close.",
    ]


def test_runbook_steps_fall_back_to_the_first_list_and_to_nothing() -> None:
    page = {"title": "T", "url": "u", "body": "# Runbook\n\nText.\n\n1. First\n2. Second\n\nAfter.\n\n1. Other\n"}
    assert runbook_steps(page)["steps"] == ["First", "Second"]
    assert runbook_steps({"title": "T", "body": "## Steps\n\n- bullets only\n"})["steps"] == []
    assert runbook_steps(None) == {"title": None, "url": None, "steps": []}
    assert runbook_steps({"body": 3}) == {"title": None, "url": None, "steps": []}


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


async def _seed(flavor: str) -> tuple[dict, dict, dict, str]:
    site = Site.open(flavor)
    async with Client(server_for(site)) as client:
        changes = await client.call_tool("search_jira_issues", {"jql": "project = OPS ORDER BY created DESC"})
        component = await client.call_tool("get_compass_component", {"id_or_name": "payment-gateway"})
        page = await client.call_tool("get_confluence_page", {"page_id": "65537"})
    return changes.structured_content, component.structured_content, page.structured_content, _iso(site.store.now())


@pytest.mark.parametrize("flavor", ["cloud", "dc"])
async def test_seed_pool_deployment_is_the_top_suspect(flavor: str) -> None:
    changes, component, page, now = await _seed(flavor)

    with_graph = rank_changes(changes, ALERT, component=component, now=now)
    keys = [s["key"] for s in with_graph["suspects"]]
    assert keys == ["OPS-141", "OPS-140", "OPS-139", "OPS-138", "OPS-137", "OPS-136"]
    top = with_graph["suspects"][0]
    assert top["summary"] == "Deploy payment-gateway 2.14.0: reduce DB connection pool size to 10"
    assert top["age"] == "2 hours ago"
    assert top["why"] == [
        "reduces DB connection pool size",
        "deployment 2 hours ago",
        "touches payment-gateway",
        "matches the alert: database, connection, pool",
    ]
    assert with_graph["suspects"][1]["why"] == [
        "change 6 hours ago",
        "touches customer-api, which depends on payment-gateway",
    ]
    assert "looks cosmetic (copy)" in with_graph["suspects"][2]["why"]
    assert with_graph["service"] == "payment-gateway"

    alone = rank_changes(changes, ALERT, now=now)
    assert alone["suspects"][0]["key"] == "OPS-141"
    assert alone["service"] == "payment-gateway"
    assert rank_changes(changes, ALERT)["suspects"][0]["age"] == "just now"  # default now: the newest change

    steps = runbook_steps(page)
    assert steps["title"] == "Runbook: Database connection pool exhaustion"
    assert len(steps["steps"]) == 6
    assert steps["steps"][0].startswith("Confirm the pool is saturated: open the HikariCP dashboard and check")
    assert steps["steps"][2] == (
        "Look for long-running transactions holding connections:\n\n```sql\n"
        "SELECT pid, now() - xact_start AS duration, state, query\nFROM pg_stat_activity\n"
        "WHERE datname = 'payments' AND state <> 'idle'\nORDER BY duration DESC LIMIT 20;\n```"
    )
    assert steps["steps"][3] == "If a deployment reduced the pool size, roll it back: `helm rollback payment-gateway`."
    assert steps["steps"][5] == "Post a status update in #incidents every 30 minutes."
