"""JQL and CQL: queries compiled by agentflow.sandbox.query and run against a small site at a fixed moment.

The clock is Thursday 2026-11-12 15:00 UTC; every time in the data is a whole number of hours before it, so
relative dates and date functions give exact, deterministic answers.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest

from agentflow.sandbox.jira.shapes import jql_custom_clauses
from agentflow.sandbox.query import (
    CompiledQuery,
    QueryContext,
    QueryError,
    compile_cql,
    compile_jql,
    register_functions,
)
from agentflow.sandbox.query.reserved import CQL_RESERVED_WORDS
from agentflow.sandbox.query.textsearch import match_all, match_count, stem
from agentflow.sandbox.store import Store

NOW = datetime(2026, 11, 12, 15, 0, tzinfo=UTC).timestamp()
HOUR = 3600.0
ALICE, BOB, CAROL = 1, 2, 3
PAY, OPS, SEC = 1, 2, 3

# key, project, type, status, priority, summary, description, assignee, reporter, parent, resolution, sprint,
# created (hours ago), resolved (hours ago)
ISSUES = [
    ("PAY-1", PAY, "Epic", "In Progress", "High", "Checkout revamp", "", ALICE, BOB, None, None, None, 720, None),
    ("PAY-2", PAY, "Story", "To Do", "Medium", "Add retry to refund webhook", "", BOB, ALICE, "PAY-1", None, None,
     240, None),
    ("PAY-3", PAY, "Bug", "In Progress", "Highest", "Database connection pool exhausted under load",
     "The pool runs out of connections during peak checkout.", ALICE, CAROL, "PAY-1", None, None, 48, None),
    ("PAY-10", PAY, "Bug", "Done", "Low", "Refund totals rounding error", "", None, BOB, None, "Fixed", "Sprint 12",
     480, 30),
    ("OPS-1", OPS, "Deployment", "Done", "Medium", "Deploy payments v2.3 to production", "", CAROL, CAROL, None,
     "Done", None, 3, 2),
    ("OPS-2", OPS, "Story", "To Do", None, "Rotate database credentials", "", None, ALICE, "PAY-3", None, None, 120,
     None),
    ("SEC-1", SEC, "Bug", "To Do", "High", "Leaked token in logs", "", ALICE, ALICE, None, None, None, 1, None),
]  # fmt: skip
LABELS = {"PAY-2": ["backend", "webhook"], "PAY-3": ["backend", "incident"], "OPS-1": ["deploy"]}
COMPONENTS = {"PAY-3": "API", "OPS-1": "Database", "SEC-1": "Secrets"}
COMMENTS = {"OPS-2": "Vault lease expired during the rotation."}

# id, space, parent, title, body, author, created and updated (hours ago), labels
PAGES = [  # parents before children
    (4, "OPS", None, "Postmortems", "All incident reviews.", ALICE, 300, 300, ["index"]),
    (1, "OPS", None, "Runbook: Database connection pool exhaustion",
     "When the DB pool is exhausted, raise max connections and restart the service.", ALICE, 100, 50,
     ["runbook", "database"]),
    (2, "OPS", None, "Runbook: Disk full", "When a disk is full the database connection fails; delete old logs.",
     BOB, 90, 10, ["runbook"]),
    (3, "OPS", 4, "Incident review 2026-10", "Connection pool exhausted caused checkout errors.", CAROL, 200, 5,
     ["postmortem"]),
    (5, "ENG", None, "Architecture overview", "Services talk to the database via a pool.", BOB, 400, 1, []),
    (6, "OPS", 3, "Follow-up actions", "Tune pool size.", CAROL, 30, 20, []),
]  # fmt: skip


@pytest.fixture(scope="module")
def conn() -> sqlite3.Connection:
    store = Store.open(clock=lambda: NOW)
    db = store.conn
    register_functions(db)
    for uid, name, display in [
        (ALICE, "alice", "Alice Admin"),
        (BOB, "bob", "Bob Builder"),
        (CAROL, "carol", "Carol Danvers"),
    ]:
        db.execute(
            "INSERT INTO users (id, account_id, username, display_name, email, token) VALUES (?, ?, ?, ?, ?, ?)",
            (uid, f"acc-{name}", name, display, f"{name}@example.com", f"token-{name}"),
        )
    for pid, key, name, restricted in [
        (PAY, "PAY", "Payments", 0),
        (OPS, "OPS", "Operations", 0),
        (SEC, "SEC", "Security", 1),
    ]:
        db.execute("INSERT INTO projects (id, key, name, restricted) VALUES (?, ?, ?, ?)", (pid, key, name, restricted))
    db.execute("INSERT INTO project_members VALUES (?, ?)", (SEC, ALICE))
    for tid, name, level in [(1, "Epic", 1), (2, "Story", 0), (3, "Bug", 0), (4, "Deployment", 0)]:
        db.execute("INSERT INTO issue_types (id, name, hierarchy_level) VALUES (?, ?, ?)", (tid, name, level))
    for sid, name, category in [(1, "To Do", "new"), (2, "In Progress", "indeterminate"), (3, "Done", "done")]:
        db.execute("INSERT INTO statuses VALUES (?, ?, ?)", (sid, name, category))
    for rank, name in enumerate(["Highest", "High", "Medium", "Low"], start=1):
        db.execute("INSERT INTO priorities VALUES (?, ?, ?)", (rank, name, rank))
    for cid, project, name in [(1, PAY, "API"), (2, OPS, "Database"), (3, SEC, "Secrets")]:
        db.execute("INSERT INTO components (id, project_id, name) VALUES (?, ?, ?)", (cid, project, name))
    ids: dict[str, int] = {}
    for n, row in enumerate(ISSUES, start=1):
        key, project, type_, status, priority, summary, text, assignee, reporter, parent, resolution, sprint = row[:12]
        created, resolved = NOW - row[12] * HOUR, None if row[13] is None else NOW - row[13] * HOUR
        db.execute(
            "INSERT INTO issues (id, project_id, number, key, issue_type_id, status_id, priority_id, summary, "
            "description_text, assignee_id, reporter_id, parent_id, resolution, sprint, created, updated, resolved) "
            "VALUES (?, ?, ?, ?, (SELECT id FROM issue_types WHERE name = ?), "
            "(SELECT id FROM statuses WHERE name = ?), (SELECT id FROM priorities WHERE name = ?), "
            "?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (n, project, int(key.split("-")[1]), key, type_, status, priority, summary, text, assignee, reporter,
             ids.get(parent), resolution, sprint, created, resolved or created, resolved),
        )  # fmt: skip
        ids[key] = n
    for key, labels in LABELS.items():
        db.executemany("INSERT INTO issue_labels VALUES (?, ?)", [(ids[key], label) for label in labels])
    for key, component in COMPONENTS.items():
        db.execute(
            "INSERT INTO issue_components VALUES (?, (SELECT id FROM components WHERE name = ?))", (ids[key], component)
        )
    for key, text in COMMENTS.items():
        db.execute(
            "INSERT INTO comments (issue_id, author_id, body, body_text, created, updated) "
            "VALUES (?, ?, '{}', ?, ?, ?)",
            (ids[key], BOB, text, NOW, NOW),
        )
    db.execute("INSERT INTO spaces (id, key, name) VALUES (1, 'OPS', 'Operations'), (2, 'ENG', 'Engineering')")
    for pid, space, parent, title, body, author, created, updated, labels in PAGES:
        db.execute(
            "INSERT INTO pages (id, space_id, parent_id, title, body_text, author_id, created, updated) "
            "VALUES (?, (SELECT id FROM spaces WHERE key = ?), ?, ?, ?, ?, ?, ?)",
            (pid, space, parent, title, body, author, NOW - created * HOUR, NOW - updated * HOUR),
        )
        db.executemany("INSERT INTO page_labels VALUES (?, ?)", [(pid, label) for label in labels])
    yield db
    store.close()


def context(conn: sqlite3.Connection, user: int, renamed: dict[str, str] | None = None) -> QueryContext:
    """A Data Center site's context (its custom fields, optionally renamed by id) for `user`."""
    visible = {PAY, OPS, SEC} if user == ALICE else {PAY, OPS}
    clauses = jql_custom_clauses(cloud=False, renamed=renamed)
    return QueryContext(
        conn=conn, now=NOW, user_id=user, visible_project_ids=frozenset(visible), custom_clauses=clauses
    )


def issues(conn: sqlite3.Connection, text: str, user: int = ALICE) -> list[str]:
    """Run JQL the way the REST layer does, visibility filter included."""
    ctx = context(conn, user)
    compiled = compile_jql(text, ctx)
    visible = ", ".join(str(p) for p in sorted(ctx.visible_project_ids))
    sql = (
        f"SELECT i.key FROM issues i WHERE ({compiled.where}) AND i.project_id IN ({visible}) "
        f"ORDER BY {compiled.order_by} LIMIT ? OFFSET ?"
    )
    return [row[0] for row in conn.execute(sql, [*compiled.params, 50, 0])]


def pages(conn: sqlite3.Connection, text: str, user: int = ALICE) -> list[int]:
    compiled = compile_cql(text, context(conn, user))
    sql = f"SELECT p.id FROM pages p WHERE ({compiled.where}) ORDER BY {compiled.order_by} LIMIT ? OFFSET ?"
    return [row[0] for row in conn.execute(sql, [*compiled.params, 50, 0])]


ALL_BY_CREATED = ["SEC-1", "OPS-1", "PAY-3", "OPS-2", "PAY-2", "PAY-10", "PAY-1"]

JQL_CASES = [
    # projects, by key, name or id; keywords and names in any case
    ("project = PAY", ["PAY-3", "PAY-2", "PAY-10", "PAY-1"]),
    ("project = payments ORDER BY key", ["PAY-1", "PAY-2", "PAY-3", "PAY-10"]),
    ("PROJECT = pay and STATUS = done Order By Created desc", ["PAY-10"]),
    ("project in (PAY, OPS) AND status = 'To Do'", ["OPS-2", "PAY-2"]),
    ("project = 2", ["OPS-1", "OPS-2"]),
    # precedence: NOT > AND > OR, and parentheses
    ("project = OPS OR project = PAY AND status = Done", ["OPS-1", "OPS-2", "PAY-10"]),
    ("(project = OPS OR project = PAY) AND status = Done", ["OPS-1", "PAY-10"]),
    ("NOT status = Done AND project != SEC", ["PAY-3", "OPS-2", "PAY-2", "PAY-1"]),
    ("not (status = Done or labels = backend)", ["SEC-1", "OPS-2", "PAY-1"]),
    # ORDER BY several fields; priority DESC is most urgent first, empty priorities last
    ("project in (PAY, OPS) ORDER BY priority DESC, key ASC", ["PAY-3", "PAY-1", "OPS-1", "PAY-2", "PAY-10", "OPS-2"]),
    ("project = PAY ORDER BY status ASC, created ASC", ["PAY-2", "PAY-1", "PAY-3", "PAY-10"]),
    ("project = PAY ORDER BY assignee, key", ["PAY-1", "PAY-3", "PAY-2", "PAY-10"]),
    ("project = OPS ORDER BY summary", ["OPS-1", "OPS-2"]),
    ("ORDER BY key DESC", ["SEC-1", "PAY-10", "PAY-3", "PAY-2", "PAY-1", "OPS-2", "OPS-1"]),
    ("", ALL_BY_CREATED),
    ("priority >= High", ["SEC-1", "PAY-3", "PAY-1"]),
    ("priority < Medium", ["PAY-10"]),
    # relative dates and functions, computed from the fixed now (Thursday 15:00)
    ("created >= -24h", ["SEC-1", "OPS-1"]),
    ('created >= "-5d"', ["SEC-1", "OPS-1", "PAY-3", "OPS-2"]),
    ("created > -5d", ["SEC-1", "OPS-1", "PAY-3"]),
    ("created > -1w2d AND created < -4d", ["OPS-2"]),
    ("created >= -180m", ["SEC-1", "OPS-1"]),
    ("created >= startOfDay()", ["SEC-1", "OPS-1"]),
    ("created >= startOfDay(-2d) AND created < startOfDay()", ["PAY-3"]),
    ("created >= startOfWeek()", ["SEC-1", "OPS-1", "PAY-3"]),
    ("created > now()", []),
    ("created <= endOfDay() AND created >= startOfMonth()", ["SEC-1", "OPS-1", "PAY-3", "OPS-2", "PAY-2"]),
    ("resolved >= -1d", ["OPS-1"]),
    ("resolutiondate is not empty ORDER BY resolved DESC", ["OPS-1", "PAY-10"]),
    ('created < "2026-10-20"', ["PAY-1"]),
    ('created = "2026/10/23 15:00"', ["PAY-10"]),
    ('created >= "2026-11-12 14:00"', ["SEC-1"]),
    # keys and ids; unknown keys in IN lists are ignored
    ("key in (PAY-2, PAY-3, NOPE-1, PAY-99)", ["PAY-3", "PAY-2"]),
    ("project = PAY AND key not in (PAY-2, PAY-3)", ["PAY-10", "PAY-1"]),
    ("key > PAY-2", ["PAY-3", "PAY-10"]),
    ("issuekey = pay-3", ["PAY-3"]),
    ("id = 2", ["PAY-2"]),
    # emptiness; != never matches an empty field
    ("assignee is EMPTY", ["OPS-2", "PAY-10"]),
    ("priority = EMPTY", ["OPS-2"]),
    ("assignee in (EMPTY, bob)", ["OPS-2", "PAY-2", "PAY-10"]),
    ("assignee != bob", ["SEC-1", "OPS-1", "PAY-3", "PAY-1"]),
    # labels and components
    ("labels = backend", ["PAY-3", "PAY-2"]),
    ("labels = BACKEND", ["PAY-3", "PAY-2"]),
    ("labels in (deploy, incident)", ["OPS-1", "PAY-3"]),
    ("labels != backend", ["OPS-1"]),
    ("labels is empty", ["SEC-1", "OPS-2", "PAY-10", "PAY-1"]),
    ("component = Database", ["OPS-1"]),
    ("component in (api, Secrets)", ["SEC-1", "PAY-3"]),
    # Epic Link follows a parent only when it is an epic
    ('"Epic Link" = PAY-1', ["PAY-3", "PAY-2"]),
    ("parent = PAY-3", ["OPS-2"]),
    ("parent in (PAY-1, PAY-3) AND assignee is not empty", ["PAY-3", "PAY-2"]),
    ('"epic link" is empty AND project = PAY', ["PAY-10", "PAY-1"]),
    ('"Epic Link" is EMPTY and parent is not empty', ["OPS-2"]),
    # a custom field by its id, `cf[N]`, as by its name
    ("cf[10014] = PAY-1", ["PAY-3", "PAY-2"]),
    ('CF[10020] = "sprint 12"', ["PAY-10"]),
    # text search: words, light stemming, phrases, wildcards, comments
    ('summary ~ "exhaustion"', ["PAY-3"]),
    ('text ~ "connections exhausting"', ["PAY-3"]),
    ('summary ~ "pool exhausted"', ["PAY-3"]),
    ('summary ~ "pool refund"', []),
    ('summary ~ "\\"pool exhausted\\""', ["PAY-3"]),
    ('summary ~ "\\"exhausted pool\\""', []),
    ('summary ~ "refun*"', ["PAY-2", "PAY-10"]),
    ('text ~ "vault lease"', ["OPS-2"]),
    ("comment ~ rotation", ["OPS-2"]),
    ("summary !~ refund AND project = PAY", ["PAY-3", "PAY-1"]),
    ("description is empty and project = PAY", ["PAY-2", "PAY-10", "PAY-1"]),
    # users: currentUser(), account id, username, email, display name
    ("reporter = currentUser()", ["SEC-1", "OPS-2", "PAY-2"]),
    ("assignee in (currentUser(), carol) ORDER BY Rank", ["PAY-1", "PAY-3", "OPS-1", "SEC-1"]),
    ('assignee = "Carol Danvers"', ["OPS-1"]),
    ('assignee = "alice@example.com"', ["SEC-1", "PAY-3", "PAY-1"]),
    ("reporter = acc-bob", ["PAY-10", "PAY-1"]),
    # categories, resolutions, sprints, types
    ('statusCategory = "In Progress"', ["PAY-3", "PAY-1"]),
    ("statusCategory != done", ["SEC-1", "PAY-3", "OPS-2", "PAY-2", "PAY-1"]),
    ("resolution = Unresolved AND project = OPS", ["OPS-2"]),
    ("resolution = fixed", ["PAY-10"]),
    ("resolution in (Fixed, Done)", ["OPS-1", "PAY-10"]),
    ('sprint = "sprint 12"', ["PAY-10"]),
    ("type = Bug", ["SEC-1", "PAY-3", "PAY-10"]),
    ("issuetype in (Epic, Deployment)", ["OPS-1", "PAY-1"]),
]


@pytest.mark.parametrize(("jql", "expected"), JQL_CASES, ids=[case[0] or "<empty>" for case in JQL_CASES])
def test_jql(conn, jql, expected):
    assert issues(conn, jql) == expected


def test_a_restricted_project_is_invisible_to_non_members(conn):
    assert issues(conn, "project = OPS", user=BOB) == ["OPS-1", "OPS-2"]
    assert issues(conn, "assignee = currentUser()", user=BOB) == ["PAY-2"]
    assert issues(conn, "key in (SEC-1, PAY-1)", user=BOB) == ["PAY-1"]
    for jql, message in [
        ("project = SEC", "The value 'SEC' does not exist for the field 'project'."),
        ("key = SEC-1", "An issue with key 'SEC-1' does not exist for field 'key'."),
        ("component = Secrets", "The value 'Secrets' does not exist for the field 'component'."),
    ]:
        with pytest.raises(QueryError) as raised:
            compile_jql(jql, context(conn, BOB))
        assert raised.value.message == message


OPERATORS = "'=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'"
# An unquoted reserved word (Atlassian's "JQL: restricted words and characters") in a field, value or function
# position, reported where it stands, even before a syntax error further on.
RESERVED_WORD_ERRORS = [
    (jql, f"Error in the JQL Query: '{word}' is a reserved JQL word. You must surround it in quotation marks to use "
          f"it in a query. (line 1, character {at})")
    for jql, word, at in [
        ("project = IF", "IF", 11),
        ("project in (PAY, AS)", "AS", 18),
        ("labels = SET", "SET", 10),
        ("assignee = true", "true", 12),
        ("status = End to End Testing", "End", 10),
        ("Set = x", "Set", 1),
    ]
]  # fmt: skip
JQL_ERRORS = [
    ("project = KAN", "The value 'KAN' does not exist for the field 'project'."),
    ("status = Closed", "The value 'Closed' does not exist for the field 'status'."),
    ("assignee = nobody", "The value 'nobody' does not exist for the field 'assignee'."),
    ("statusCategory = Blocked", "The value 'Blocked' does not exist for the field 'statusCategory'."),
    ("key = PAY-999", "An issue with key 'PAY-999' does not exist for field 'key'."),
    ('"Epic Link" = PAY-3', "The value 'PAY-3' does not exist for the field 'Epic Link'."),
    ("foo = bar", "Field 'foo' does not exist or you do not have permission to view it."),
    ("labels ~ x", "The operator '~' is not supported by the 'labels' field."),
    ("created ~ x", "The operator '~' is not supported by the 'created' field."),
    ("summary = x", "The operator '=' is not supported by the 'summary' field."),
    ('summary ~ ""', "The field 'summary' does not support searching for an empty string."),
    (
        'project = "TEST" AND status closed',
        f"Error in the JQL Query: Expecting operator but got 'closed'. The valid operators are {OPERATORS}. "
        "(line 1, character 29)",
    ),
    (
        "project",
        f"Error in the JQL Query: Expecting operator before the end of the query. The valid operators are {OPERATORS}.",
    ),
    ("(project = PAY", "Error in the JQL Query: Expecting ')' before the end of the query."),
    ("project = PAY AND", "Error in the JQL Query: Expecting a field name at the end of the query."),
    ("project = PAY ORDER BY", "Error in the JQL Query: Expecting a field name at the end of the query."),
    ("project =", "Error in the JQL Query: Expecting either a value, list or function before the end of the query."),
    (
        "status = In Progress",
        "Error in the JQL Query: Expecting either 'OR' or 'AND' but got 'Progress'. (line 1, character 13)",
    ),
    (
        "summary ~ 'pool",
        "Error in the JQL Query: The quoted string 'pool' has not been completed. (line 1, character 11)",
    ),
    (
        "summary ~ pool*",
        "Error in the JQL Query: The character '*' is a reserved JQL character. You must enclose it in a string or use "
        "the escape '\\u002a' instead. (line 1, character 15)",
    ),
    (
        "project = PAY ORDER BY key sideways",
        "Error in the JQL Query: Expecting either 'ASC' or 'DESC' but got 'sideways'. (line 1, character 28)",
    ),
    (
        "created > yesterday",
        "Date value 'yesterday' for field 'created' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', "
        "'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'.",
    ),
    (
        'created > startOfDay("soon")',
        "Duration for function 'startOfDay' should have the format (+/-)n(yMwdm), e.g -1M for 1 month earlier.",
    ),
    ("created > now(-1d)", "Function 'now' expected '0' arguments but received '1'."),
    ("assignee = currentUser(x)", "Function 'currentUser' expected '0' arguments but received '1'."),
    ("reporter in (currentUser(x, y))", "Function 'currentUser' expected '0' arguments but received '2'."),
    (
        'created > startOfDay("-1d", "+1d")',
        "Function 'startOfDay' expected between '0' and '1' arguments but received '2'.",
    ),
    ("status = currentUser()", "A value provided by the function 'currentUser' is invalid for the field 'status'."),
    ("cf[99999] = x", "Field 'cf[99999]' does not exist or you do not have permission to view it."),
    ('ORDER BY "Epic Link"', "Not able to sort using field 'Epic Link'."),
    ("assignee in membersOf(x)", "Error in the JQL Query: Expecting '(' but got 'membersOf'. (line 1, character 13)"),
    ("assignee = membersOf(devs)", "Unable to find JQL function 'membersOf(devs)'."),
    ("ORDER BY text", "Not able to sort using field 'text'."),
    ("ORDER BY flavour", "Field 'flavour' does not exist or you do not have permission to view it."),
    ("created > EMPTY", "The operator '>' does not support searching for EMPTY values."),
    *RESERVED_WORD_ERRORS,
    ('project = "IF"', "The value 'IF' does not exist for the field 'project'."),  # quoted: an ordinary value
    (
        "assignee = alice@example.com",
        "Error in the JQL Query: The character '@' is a reserved JQL character. You must enclose it in a string or use "
        "the escape '\\u0040' instead. (line 1, character 17)",
    ),
]


@pytest.mark.parametrize(("jql", "message"), JQL_ERRORS, ids=[case[0] for case in JQL_ERRORS])
def test_jql_errors(conn, jql, message):
    with pytest.raises(QueryError) as raised:
        compile_jql(jql, context(conn, ALICE))
    assert raised.value.message == message
    assert str(raised.value) == message


# A custom field renamed by the site's admin (`Site.open(field_names=...)`): Jira takes the new name and `cf[N]`
# as its clause, and the old English name is no field at all.
RENAMED = {"customfield_10014": "Lien d'epic", "customfield_10020": "Itération"}
RENAMED_CASES = [
    ('"Lien d\'epic" = PAY-1', ["PAY-3", "PAY-2"]),
    ("cf[10014] = PAY-1", ["PAY-3", "PAY-2"]),
    ('"LIEN D\'EPIC" is empty AND project = PAY', ["PAY-10", "PAY-1"]),
    ('Itération = "Sprint 12"', ["PAY-10"]),
    ('"Epic Link" = PAY-1', "Field 'Epic Link' does not exist or you do not have permission to view it."),
    ('sprint = "Sprint 12"', "Field 'sprint' does not exist or you do not have permission to view it."),
    ('"Lien d\'epic" = PAY-3', "The value 'PAY-3' does not exist for the field 'Lien d'epic'."),
    ('project = PAY ORDER BY "Lien d\'epic"', "Not able to sort using field 'Lien d'epic'."),
]


@pytest.mark.parametrize(("jql", "expected"), RENAMED_CASES, ids=[case[0] for case in RENAMED_CASES])
def test_a_renamed_custom_field_is_searched_by_its_new_name(conn, jql, expected):
    ctx = context(conn, ALICE, renamed=RENAMED)
    if isinstance(expected, str):
        with pytest.raises(QueryError) as raised:
            compile_jql(jql, ctx)
        assert raised.value.message == expected
    else:
        compiled = compile_jql(jql, ctx)
        sql = f"SELECT i.key FROM issues i WHERE {compiled.where} ORDER BY {compiled.order_by}"
        assert [row[0] for row in conn.execute(sql, compiled.params)] == expected


def test_compiled_jql_uses_ids_and_indexes(conn):
    compiled = compile_jql(
        'project = PAY AND status = "To Do" AND created >= -30d ORDER BY created DESC', context(conn, ALICE)
    )
    assert compiled == CompiledQuery(
        where="(i.project_id = ? AND i.status_id = ? AND i.created >= ?)",
        params=[PAY, 1, NOW - 30 * 86400],
        order_by="i.created DESC, i.id DESC",
        bounded=True,
    )
    plan = " ".join(
        str(row[3])
        for row in conn.execute(f"EXPLAIN QUERY PLAN SELECT i.* FROM issues i WHERE {compiled.where}", compiled.params)
    )
    assert "USING INDEX" in plan


def test_unbounded_queries_are_flagged(conn):
    ctx = context(conn, ALICE)
    assert not compile_jql("", ctx).bounded
    assert not compile_jql("ORDER BY created", ctx).bounded
    assert compile_jql("", ctx).where == "1"
    assert compile_jql("labels = x", ctx).bounded
    assert not compile_cql("", ctx).bounded


CQL_CASES = [
    ("type = page", [5, 3, 2, 6, 1, 4]),
    ("", [5, 3, 2, 6, 1, 4]),
    ("type = blogpost", []),
    # relevance: distinct words matched, then title matches, then most recently modified
    ('label = "runbook" AND text ~ "DB connection pool exhausted"', [1, 2]),
    ('text ~ "pool exhausted"', [1, 3, 5, 6]),
    ('siteSearch ~ "disk"', [2]),
    ('text ~ "pool" AND NOT label = runbook ORDER BY id', [3, 5, 6]),
    ('text !~ "pool"', [2, 4]),
    ("space = ENG", [5]),
    ("space.key in (OPS) and label = postmortem", [3]),
    ("space = NOPE", []),
    ("title ~ runbook ORDER BY title", [1, 2]),
    ('title = "runbook: disk full"', [2]),
    ("ancestor = 4", [3, 6]),
    ("parent = 4", [3]),
    ("creator = currentUser()", [1, 4]),
    ('creator = bob and lastmodified >= now("-12h")', [5, 2]),
    ('created < startOfDay("-5d")', [5, 3, 4]),
    ("created >= -4d ORDER BY created DESC", [6, 2]),
    ("label is empty", [5, 6]),
    ("label in (index, postmortem) ORDER BY lastmodified ASC", [4, 3]),
    ("id = 2", [2]),
    ("id in (1, 3) or (space = ENG and not type = page)", [3, 1]),
]


@pytest.mark.parametrize(("cql", "expected"), CQL_CASES, ids=[case[0] or "<empty>" for case in CQL_CASES])
def test_cql(conn, cql, expected):
    assert pages(conn, cql) == expected


CQL_ERRORS = [
    ("text ~", "Could not parse cql : text ~"),
    ("space = OPS AND", "Could not parse cql : space = OPS AND"),
    ("foo = bar", "Could not find field 'foo'"),
    ("label ~ x", "The operator '~' is not supported by the field 'label'"),
    ("created > someday", "Could not parse date 'someday' for field 'created'"),
]


@pytest.mark.parametrize(("cql", "message"), CQL_ERRORS, ids=[case[0] for case in CQL_ERRORS])
def test_cql_errors(conn, cql, message):
    with pytest.raises(QueryError) as raised:
        compile_cql(cql, context(conn, ALICE))
    assert raised.value.message == message


# Confluence's reserved words ("CQL functions", section "Reserved words"), unquoted in a value, field or function
# position: a parse failure, in Confluence's bare words. Each word of Atlassian's list is a case.
CQL_RESERVED = [f"label = {word}" for word in sorted(CQL_RESERVED_WORDS - {"empty", "null"})] + [
    "title ~ Contains",
    "after = x",
    "created > before()",
    "space = OPS AND creator = end ORDER BY title",
]


@pytest.mark.parametrize("cql", CQL_RESERVED)
def test_an_unquoted_cql_reserved_word_is_refused(conn, cql):
    with pytest.raises(QueryError) as raised:
        compile_cql(cql, context(conn, ALICE))
    assert raised.value.message == f"Could not parse cql : {cql}"


def test_a_quoted_cql_reserved_word_is_an_ordinary_value(conn):
    assert pages(conn, 'label = "after" OR title ~ "was"') == []
    assert pages(conn, "label = afterwards") == []  # only the whole word is reserved
    assert pages(conn, "label = EMPTY") == pages(conn, "label is empty")  # a keyword in its own place


@pytest.mark.parametrize(
    ("words", "common"),
    [
        ("exhausted exhaustion exhaust exhausts exhausting", "exhaust"),
        ("connection connections connected connecting", "connect"),
        ("deploy deploys deployed deploying deployment", "deploy"),
        ("pass passed passes", "pass"),
        ("latency latencies", "latenci"),
        ("stop stopped stopping", "stop"),
    ],
)
def test_stemming_conflates_word_forms(words, common):
    assert {stem(word) for word in words.split()} == {common}


def test_text_matching():
    assert match_all("Database connection pool exhausted", "pool exhaustion") == 1
    assert match_all("Database connection pool exhausted", "pool disk") == 0
    assert match_all("the pool", "the") == 1  # a query of nothing but stop words still searches
    assert match_all("pool is exhausted", "pool is exhausted") == 1
    assert match_all("anything", "") == 0
    assert match_all(None, "pool") == 0
    assert match_all("error in pool_size", "pool?size") == 0  # "_" splits words: pool, size
    assert match_count("Runbook: Database connection pool exhaustion", "DB connection pool exhausted") == 3


def test_the_parser_is_kept_beside_a_site_file_privately_and_a_damaged_copy_is_rebuilt(tmp_path):
    """Later processes load the built parser instead of building it; the file is a pickle Lark loads, so it
    lives only in the site's own (private) directory, owner-only."""
    import subprocess
    import sys

    code = (
        "import sys; from agentflow.sandbox.site import Site; from agentflow.sandbox.query.common import parse; "
        "Site.open('cloud', sys.argv[1]); print(type(parse('project = PAY')).__name__)"
    )
    db = str(tmp_path / "site.db")
    first = subprocess.run([sys.executable, "-c", code, db], capture_output=True, text=True, check=True)
    kept = tmp_path / "jql-cql-parser.lark-cache"
    assert first.stdout.strip() == "Query" and kept.stat().st_size > 1000
    assert kept.stat().st_mode & 0o777 == 0o600
    kept.write_bytes(b"not a parser\n\x80garbage")
    again = subprocess.run([sys.executable, "-c", code, db], capture_output=True, text=True, check=True)
    assert again.stdout.strip() == "Query" and kept.stat().st_size > 1000  # rebuilt and kept again


def test_a_parser_file_in_a_directory_others_may_write_is_never_loaded(tmp_path):
    """A pickle another user planted would run as code when loaded: a shared directory, or a file there that is
    not owner-only, is not used (the parser is built in memory instead)."""
    import subprocess
    import sys

    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o1777)
    planted = shared / "jql-cql-parser.lark-cache"
    planted.write_bytes(b"planted")
    code = (
        "import sys; from agentflow.sandbox.site import Site; from agentflow.sandbox.query import common; "
        "Site.open('cloud', sys.argv[1]); print(common._parser_file)"
    )
    ran = subprocess.run([sys.executable, "-c", code, str(shared / "site.db")], capture_output=True, text=True)
    assert ran.stdout.strip() == "False" and planted.read_bytes() == b"planted"
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    (private / "jql-cql-parser.lark-cache").write_bytes(b"")
    (private / "jql-cql-parser.lark-cache").chmod(0o666)
    ran = subprocess.run([sys.executable, "-c", code, str(private / "site.db")], capture_output=True, text=True)
    assert ran.stdout.strip() == "False"  # a file others may write is not trusted either
