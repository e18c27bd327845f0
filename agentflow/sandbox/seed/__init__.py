"""The seed: one realistic site carrying the four agentflow scenarios, with facts tests can assert.

- OPS: three deployments/changes within the last 24 hours (the newest, to payment-gateway, shrinks the DB
  connection pool) and older ones outside that window; space OPS with the connection-pool runbook and others.
- PAY: bug PAY-429 (a Java NullPointerException in a serializer, naming the "Payments API" page) and the older,
  resolved, similar PAY-388; bugs with Python, JavaScript and Go traces. Space ENG holds "Payments API".
- PROD: epic PROD-100 "Q4 Roadmap" with stories (PROD-101, CSV export, duplicates a request in
  examples/transcripts/), and a backlog to groom: stale, unestimated, thin and duplicate issues.
- SEC: a restricted project only its members can see.
- Restricted comments: on PAY-429 one for the Developers role (not pm, not sec), on PAY-388 one for the
  jira-administrators group (lead and sec only).
- Compass: payment-gateway, customer-api, checkout-web and payments-db with owners and DEPENDS_ON edges.
Times are offsets from now; `Store` keeps them relative on every later start.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import uuid

from agentflow.sandbox import richtext
from agentflow.sandbox.compass import component_ari
from agentflow.sandbox.query import textindex
from agentflow.sandbox.seed.bulk import generate_issues
from agentflow.sandbox.seed.data import (
    COMPONENTS,
    DEPENDS_ON,
    GROUPS,
    ISSUE_TYPES,
    ISSUES,
    LINK_TYPES,
    LINKS,
    PAGES,
    PRIORITIES,
    PROJECTS,
    ROLE_HOLDERS,
    ROLES,
    SPACES,
    STATUSES,
    TRANSITIONS,
    USERS,
    Issue,
)
from agentflow.sandbox.store import Store

# Jira numbers issues and comments from 10000; clients and people recognise ids of that shape.
FIRST_ID = 10000


def _account_id(username: str) -> str:
    return "712020:" + str(uuid.UUID(hashlib.sha256(username.encode()).hexdigest()[:32]))


def seed(store: Store, scale: int = 0) -> None:
    """Fill an empty store with the seed (and `scale` generated issues for benchmarks)."""
    now = store.now()
    cloud_id = str(uuid.uuid4())
    with store.transaction() as conn:
        conn.execute("INSERT INTO meta VALUES ('cloud_id', ?)", (cloud_id,))
        users = _seed_users(conn)
        _seed_catalogue(conn, users)
        _seed_access(conn, users)
        issue_ids = _seed_issues(conn, users, now)
        _seed_pages(conn, users, now)
        _seed_compass(conn, cloud_id)
        for link_type, inward, outward in LINKS:
            type_id = conn.execute("SELECT id FROM link_types WHERE name = ?", (link_type,)).fetchone()[0]
            conn.execute(
                "INSERT INTO issue_links (type_id, inward_issue_id, outward_issue_id) VALUES (?, ?, ?)",
                (type_id, issue_ids[inward], issue_ids[outward]),
            )
        if scale:
            with textindex.deferred(conn):
                generate_issues(conn, scale, now)


def _seed_users(conn: sqlite3.Connection) -> dict[str, int]:
    ids = {}
    for index, (username, name, email, kind) in enumerate(USERS, start=1):
        conn.execute(
            "INSERT INTO users (id, account_id, username, display_name, email, token, account_type) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (index, _account_id(username), username, name, email, f"sbx-{username}-{secrets.token_hex(12)}", kind),
        )
        ids[username] = index
    return ids


def _seed_catalogue(conn: sqlite3.Connection, users: dict[str, int]) -> None:
    conn.executemany("INSERT INTO issue_types VALUES (?, ?, ?, ?, ?)", ISSUE_TYPES)
    conn.executemany("INSERT INTO statuses VALUES (?, ?, ?)", STATUSES)
    conn.executemany("INSERT INTO transitions (id, name, to_status_id) VALUES (?, ?, ?)", TRANSITIONS)
    conn.executemany("INSERT INTO priorities VALUES (?, ?, ?)", PRIORITIES)
    conn.executemany("INSERT INTO link_types VALUES (?, ?, ?, ?)", LINK_TYPES)
    for number, (key, name, lead, restricted, members, components) in enumerate(PROJECTS):
        project_id = 10000 + number
        conn.execute(
            "INSERT INTO projects (id, key, name, lead_id, restricted) VALUES (?, ?, ?, ?, ?)",
            (project_id, key, name, users[lead], restricted),
        )
        conn.executemany("INSERT INTO project_members VALUES (?, ?)", [(project_id, users[m]) for m in members])
        conn.executemany(
            "INSERT INTO components (project_id, name) VALUES (?, ?)", [(project_id, c) for c in components]
        )


def seed_access(store: Store) -> None:
    """Give a site made before roles and groups existed the seed's roles and groups (its comments stay
    unrestricted); a site that has them is left as it is."""
    if store.is_empty() or store.query_one("SELECT 1 FROM project_roles LIMIT 1") is not None:
        return
    with store.transaction() as conn:
        users = dict(conn.execute("SELECT username, id FROM users").fetchall())
        _seed_access(conn, users)


def _seed_access(conn: sqlite3.Connection, users: dict[str, int]) -> None:
    conn.executemany("INSERT INTO project_roles (id, name) VALUES (?, ?)", ROLES)
    roles = {name: role_id for role_id, name in ROLES}
    for project_id, lead_id, restricted in conn.execute("SELECT id, lead_id, restricted FROM projects").fetchall():
        members = {
            row[0] for row in conn.execute("SELECT user_id FROM project_members WHERE project_id = ?", (project_id,))
        }
        for role, holders in ROLE_HOLDERS.items():
            ids = {users[name] for name in holders if name in users} | (
                {lead_id} if role == "Administrators" else set()
            )
            if restricted:  # nobody outside a restricted project holds a role in it
                ids &= members | {lead_id}
            conn.executemany(
                "INSERT OR IGNORE INTO role_members VALUES (?, ?, ?)", [(project_id, roles[role], i) for i in ids]
            )
    for number, (name, holders) in enumerate(GROUPS.items(), start=1):
        conn.execute(
            "INSERT INTO groups (id, name, group_id) VALUES (?, ?, ?)",
            (number, name, str(uuid.uuid5(uuid.NAMESPACE_URL, "group:" + name))),
        )
        conn.executemany("INSERT INTO group_members VALUES (?, ?)", [(number, users[u]) for u in holders if u in users])


def _adf(wiki: str | None, users: dict[str, int]) -> tuple[str | None, str]:
    if wiki is None:
        return None, ""
    filled = wiki.format(wiki="/wiki", **{name: _account_id(name) for name in users})
    names = {_account_id(username): "@" + name for username, name, _, _ in USERS}
    doc = richtext.map_mentions(
        richtext.wiki_to_adf(filled), lambda ident: (ident, names[ident]) if ident in names else None
    )
    return json.dumps(doc), richtext.adf_to_text(doc)


def _seed_issues(conn: sqlite3.Connection, users: dict[str, int], now: float) -> dict[str, int]:
    lookup = {
        table: dict(conn.execute(f"SELECT name, id FROM {table}").fetchall())
        for table in ("issue_types", "statuses", "priorities")
    }
    projects = dict(conn.execute("SELECT key, id FROM projects").fetchall())
    ids: dict[str, int] = {}
    issues = sorted(ISSUES, key=lambda i: (i.key.split("-")[0], int(i.key.split("-")[1])))
    for index, issue in enumerate(issues):
        project_key, number = issue.key.split("-")
        project_id = projects[project_key]
        created = now - issue.age
        updated = now - (issue.idle if issue.idle is not None else min(issue.age, _last_comment_age(issue)))
        description, description_text = _adf(issue.description, users)
        resolved = updated if issue.resolution else None
        cursor = conn.execute(
            "INSERT INTO issues (id, project_id, number, key, issue_type_id, status_id, priority_id, summary,"
            " description, description_text, assignee_id, reporter_id, parent_id, resolution, story_points, created,"
            " updated, resolved, seeded) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
            (
                FIRST_ID + index,
                project_id,
                int(number),
                issue.key,
                lookup["issue_types"][issue.type],
                lookup["statuses"][issue.status],
                lookup["priorities"].get(issue.priority),
                issue.summary,
                description,
                description_text,
                users.get(issue.assignee or ""),
                users[issue.reporter],
                ids.get(issue.parent or ""),
                issue.resolution,
                issue.points,
                created,
                updated,
                resolved,
            ),
        )
        issue_id = cursor.lastrowid
        ids[issue.key] = issue_id
        conn.executemany("INSERT INTO issue_labels VALUES (?, ?)", [(issue_id, label) for label in issue.labels])
        for component in issue.components:
            conn.execute(
                "INSERT INTO issue_components SELECT ?, id FROM components WHERE project_id = ? AND name = ?",
                (issue_id, project_id, component),
            )
        for comment in issue.comments:
            stored, text = _adf(comment.body, users)
            comment_id = max(FIRST_ID, conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM comments").fetchone()[0])
            conn.execute(
                "INSERT INTO comments (id, issue_id, author_id, body, body_text, created, updated, seeded,"
                " visibility_role_id, visibility_group_id) VALUES (?, ?, ?, ?, ?, ?, ?, 1,"
                " (SELECT id FROM project_roles WHERE name = ?), (SELECT id FROM groups WHERE name = ?))",
                (
                    comment_id,
                    issue_id,
                    users[comment.author],
                    stored,
                    text,
                    now - comment.age,
                    now - comment.age,
                    comment.role,
                    comment.group,
                ),
            )
    for key, project_id in projects.items():
        conn.execute(
            "UPDATE projects SET next_number = (SELECT COALESCE(MAX(number), 0) + 1 FROM issues WHERE project_id = ?)"
            " WHERE key = ?",
            (project_id, key),
        )
    return ids


def _last_comment_age(issue: Issue) -> float:
    return min((comment.age for comment in issue.comments), default=issue.age)


def _seed_pages(conn: sqlite3.Connection, users: dict[str, int], now: float) -> None:
    conn.executemany("INSERT INTO spaces (id, key, name) VALUES (?, ?, ?)", SPACES)
    space_ids = {key: ident for ident, key, _ in SPACES}
    accounts = {f"{{{name}}}": _account_id(name) for name in users}
    for page_id, space, parent, title, body, labels, author, age in PAGES:
        for placeholder, account in accounts.items():
            body = body.replace(placeholder, account)
        conn.execute(
            "INSERT INTO pages (id, space_id, parent_id, title, body, body_text, author_id, created, updated, seeded)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
            (
                page_id,
                space_ids[space],
                parent,
                title,
                body,
                richtext.storage_to_text(body),
                users[author],
                now - age,
                now - age / 2,
            ),
        )
        conn.executemany("INSERT INTO page_labels VALUES (?, ?)", [(page_id, label) for label in labels])


def _seed_compass(conn: sqlite3.Connection, cloud_id: str) -> None:
    for key, type_id, description, team, on_call, labels, links in COMPONENTS:
        ari = component_ari(cloud_id, key)
        team_id = f"ari:cloud:identity::team/{uuid.uuid5(uuid.NAMESPACE_DNS, team)}"
        conn.execute(
            "INSERT INTO compass_components VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (ari, key, type_id, description, team, team_id, on_call, json.dumps(labels)),
        )
        conn.executemany(
            "INSERT INTO compass_links VALUES (?, ?, ?, ?, ?)",
            [(f"{ari}/link/{n}", ari, name, kind, url) for n, (name, kind, url) in enumerate(links)],
        )
    conn.executemany(
        "INSERT INTO compass_relationships (start_id, end_id) VALUES (?, ?)",
        [(component_ari(cloud_id, a), component_ari(cloud_id, b)) for a, b in DEPENDS_ON],
    )
