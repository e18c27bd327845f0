"""The seed carries the scenarios' facts, and its relative times stay true whenever the site starts."""

import json

from agentflow.sandbox.richtext import is_adf
from agentflow.sandbox.site import Site
from agentflow.sandbox.store import Store

HOUR, DAY = 3600.0, 86400.0
NOW = 1_800_000_000.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def keys(store: Store, sql: str, *params) -> list[str]:
    return [row[0] for row in store.query(sql, params)]


def test_ops_has_three_changes_in_the_last_day_the_pool_change_newest():
    store = Site.open(clock=Clock(NOW)).store
    recent = keys(
        store, "SELECT key FROM issues WHERE key LIKE 'OPS-%' AND created >= ? ORDER BY created DESC", NOW - 24 * HOUR
    )
    assert recent == ["OPS-141", "OPS-140", "OPS-139"]
    pool = store.query_one("SELECT summary, description_text FROM issues WHERE key = 'OPS-141'")
    assert "connection pool" in pool["summary"] and "maximum-pool-size: 10" in pool["description_text"]
    older = keys(store, "SELECT key FROM issues WHERE key LIKE 'OPS-%' AND created < ?", NOW - 24 * HOUR)
    assert len(older) >= 2


def test_pay_429_holds_a_java_trace_and_names_the_payments_api_page():
    store = Site.open().store
    issue = store.query_one("SELECT * FROM issues WHERE key = 'PAY-429'")
    assert "Payments API" in issue["description_text"]
    [trace, _merchant, _followup] = store.query(
        "SELECT body_text FROM comments WHERE issue_id = ? ORDER BY created", (issue["id"],)
    )
    assert "java.lang.NullPointerException" in trace[0]
    assert "PaymentResponseSerializer.writeAmount(PaymentResponseSerializer.java:88)" in trace[0]
    similar = store.query_one("SELECT resolution, created FROM issues WHERE key = 'PAY-388'")
    assert similar["resolution"] == "Done" and similar["created"] < issue["created"]


def test_runbooks_and_specs_are_rich_pages():
    store = Site.open().store
    runbook = store.query_one("SELECT * FROM pages WHERE title = 'Runbook: Database connection pool exhaustion'")
    labels = keys(store, "SELECT label FROM page_labels WHERE page_id = ?", runbook["id"])
    assert "runbook" in labels
    assert "<ol>" in runbook["body"] and 'ac:name="code"' in runbook["body"] and "<table>" in runbook["body"]
    runbooks = keys(store, "SELECT page_id FROM page_labels WHERE label = 'runbook'")
    assert len(runbooks) >= 3
    spec = store.query_one("SELECT body FROM pages WHERE title = 'Payments API'")
    assert "<table>" in spec["body"] and 'ac:parameter ac:name="language">json' in spec["body"]


def test_prod_epic_stories_and_a_backlog_worth_grooming():
    store = Site.open(clock=Clock(NOW)).store
    children = keys(store, "SELECT key FROM issues WHERE parent_id = (SELECT id FROM issues WHERE key = 'PROD-100')")
    assert "PROD-101" in children and len(children) >= 3
    stale = keys(
        store, "SELECT key FROM issues WHERE key LIKE 'PROD-%' AND updated < ? AND resolution IS NULL", NOW - 60 * DAY
    )
    assert set(stale) >= {"PROD-110", "PROD-111"}
    unestimated = keys(
        store, "SELECT key FROM issues WHERE key LIKE 'PROD-1__' AND story_points IS NULL AND issue_type_id != 10000"
    )
    assert "PROD-112" in unestimated
    assert store.query_one("SELECT description FROM issues WHERE key = 'PROD-113'")[0] is None
    links = store.query(
        "SELECT t.name FROM issue_links l JOIN link_types t ON t.id = l.type_id JOIN issues a "
        "ON a.id = l.inward_issue_id WHERE a.key = 'PROD-116'"
    )
    assert [row[0] for row in links] == ["Duplicate"]


def test_the_transcript_repeats_a_request_the_epic_already_has():
    from pathlib import Path

    transcript = (Path(__file__).resolve().parents[2] / "examples" / "transcripts").glob("*.md")
    text = "\n".join(path.read_text() for path in transcript)
    assert "export any report to CSV" in text  # PROD-101, "Export reports to CSV"
    assert "select a bunch of invoices and edit them" in " ".join(text.split())


def test_every_jira_body_is_valid_adf_and_users_have_tokens():
    store = Site.open().store
    bodies = [row[0] for row in store.query("SELECT description FROM issues WHERE description IS NOT NULL")]
    bodies += [row[0] for row in store.query("SELECT body FROM comments")]
    assert bodies and all(is_adf(json.loads(b)) for b in bodies)
    users = store.users()
    assert {u.username for u in users} >= {"sre", "dev", "pm", "bot"}
    assert len({u.token for u in users}) == len(users)


def test_restricted_project_is_visible_only_to_members():
    store = Site.open().store
    sec = store.query_one("SELECT id FROM projects WHERE key = 'SEC'")["id"]
    assert sec in store.visible_project_ids(store.find_user("sec").id)
    assert sec not in store.visible_project_ids(store.find_user("dev").id)


def test_compass_components_and_dependencies():
    store = Site.open().store
    edges = store.query(
        "SELECT a.name, b.name FROM compass_relationships r JOIN compass_components a ON a.id = r.start_id "
        "JOIN compass_components b ON b.id = r.end_id ORDER BY a.name"
    )
    assert [tuple(e) for e in edges] == [
        ("checkout-web", "payment-gateway"),
        ("customer-api", "payment-gateway"),
        ("payment-gateway", "payments-db"),
    ]
    owner = store.query_one("SELECT owner_team, on_call FROM compass_components WHERE name = 'payment-gateway'")
    assert owner["owner_team"] == "Payments Team" and owner["on_call"]


def test_seeded_times_stay_relative_across_restarts_but_created_ones_do_not(tmp_path):
    clock = Clock(NOW)
    db = tmp_path / "site.db"
    first = Site.open(db=db, clock=clock)
    tokens = {u.username: u.token for u in first.users()}
    first.store.conn.execute(
        "INSERT INTO issues (project_id, number, key, issue_type_id, status_id, summary, created, updated) "
        "SELECT id, 999, 'OPS-999', 10002, 1, 'made by hand', ?, ? FROM projects WHERE key = 'OPS'",
        (NOW, NOW),
    )
    first.store.close()
    clock.now = NOW + 3 * DAY
    again = Site.open(db=db, clock=clock)
    created = again.store.query_one("SELECT created FROM issues WHERE key = 'OPS-141'")[0]
    assert created == NOW + 3 * DAY - 2 * HOUR  # still "two hours ago"
    assert again.store.query_one("SELECT created FROM issues WHERE key = 'OPS-999'")[0] == NOW
    assert {u.username: u.token for u in again.users()} == tokens


def test_scale_adds_generated_issues_to_open_projects():
    store = Site.open(scale=500).store
    assert store.query_one("SELECT COUNT(*) FROM issues")[0] >= 500
    sec = store.query_one("SELECT COUNT(*) FROM issues WHERE key LIKE 'SEC-%'")[0]
    assert sec == 2
