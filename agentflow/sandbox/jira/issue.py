"""One Jira issue as JSON (the IssueBean), with field selection and expansions, and its comments."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

from agentflow.sandbox.jira.shapes import (
    EPIC_LINK_FIELD,
    ISSUE_EXPAND,
    SPRINT_FIELD,
    STORY_POINTS_FIELD,
    Api,
    component_json,
    display_time,
    field_defs,
    issue_ref_json,
    issue_type_json,
    jira_time,
    link_type_json,
    priority_json,
    project_json,
    rendered,
    resolution_json,
    rich_text,
    status_json,
    transitions_json,
    user_json,
)
from agentflow.sandbox.visibility import readable_sql, visibility_json

# How many comments an issue carries inline; more are read from /issue/{key}/comment.
INLINE_COMMENTS = 20


def select_fields(requested: Iterable[str] | None, cloud: bool, default: str) -> set[str]:
    """Resolve a `fields` parameter (`*all`, `*navigable`, ids, `-id` exclusions) to field ids."""
    defs = field_defs(cloud)
    names = [f.strip() for item in (requested or [default]) for f in str(item).split(",") if f.strip()]
    chosen: set[str] = set()
    for name in names:
        if name == "*all":
            chosen |= {f.id for f in defs}
        elif name == "*navigable":
            chosen |= {f.id for f in defs if f.navigable}
        elif not name.startswith("-"):
            chosen.add(name)
    for name in names:
        if name.startswith("-"):
            chosen.discard(name[1:])
    return chosen


def issue_json(api: Api, row: sqlite3.Row, fields: set[str], expand: set[str]) -> dict[str, Any]:
    """The IssueBean for `row`, carrying only `fields`; `expand` may add renderedFields and names."""
    body: dict[str, Any] = {
        "expand": ISSUE_EXPAND,
        "id": str(row["id"]),
        "self": api.url(f"issue/{row['id']}"),
        "key": row["key"],
        "fields": {name: value for name, value in _field_values(api, row, fields).items() if name in fields},
    }
    if "renderedFields" in expand:
        body["renderedFields"] = _rendered_fields(api, row, fields)
    if "names" in expand:
        body["names"] = {f.id: f.name for f in field_defs(api.cloud, api.renamed) if f.id in fields}
    if "transitions" in expand:
        body["transitions"] = transitions_json(api, row)
    return body


def _field_values(api: Api, row: sqlite3.Row, fields: set[str]) -> dict[str, Any]:
    store = api.store
    values: dict[str, Any] = {}

    def one(sql: str, param: Any) -> sqlite3.Row | None:
        return store.query_one(sql, (param,)) if param is not None else None

    if "summary" in fields:
        values["summary"] = row["summary"]
    if "description" in fields:
        values["description"] = rich_text(api, row["description"])
    if "environment" in fields:
        values["environment"] = rich_text(api, row["environment"])
    if "issuetype" in fields:
        values["issuetype"] = issue_type_json(api, one("SELECT * FROM issue_types WHERE id = ?", row["issue_type_id"]))
    if "project" in fields:
        values["project"] = project_json(api, one("SELECT * FROM projects WHERE id = ?", row["project_id"]))
    if "status" in fields:
        values["status"] = status_json(api, one("SELECT * FROM statuses WHERE id = ?", row["status_id"]))
    if "priority" in fields:
        priority = one("SELECT * FROM priorities WHERE id = ?", row["priority_id"])
        values["priority"] = priority_json(api, priority) if priority else None
    for name, column in (("assignee", "assignee_id"), ("reporter", "reporter_id"), ("creator", "reporter_id")):
        if name in fields:
            values[name] = user_json(api, store.user(row[column])) if row[column] else None
    if "labels" in fields:
        values["labels"] = [
            r["label"]
            for r in store.query("SELECT label FROM issue_labels WHERE issue_id = ? ORDER BY label", (row["id"],))
        ]
    if "components" in fields:
        values["components"] = [
            component_json(api, c)
            for c in store.query(
                "SELECT c.* FROM components c JOIN issue_components ic ON ic.component_id = c.id "
                "WHERE ic.issue_id = ? ORDER BY c.name",
                (row["id"],),
            )
        ]
    for name, column in (("created", "created"), ("updated", "updated"), ("resolutiondate", "resolved")):
        if name in fields:
            values[name] = jira_time(row[column])
    if "resolution" in fields:
        values["resolution"] = resolution_json(api, row["resolution"])
    parent = one("SELECT * FROM issues WHERE id = ?", row["parent_id"])
    if parent is not None:
        is_epic = one("SELECT hierarchy_level FROM issue_types WHERE id = ?", parent["issue_type_id"])[0] == 1
        # Data Center links stories to epics with the Epic Link field; `parent` is only for sub-tasks there.
        if api.cloud or not is_epic:
            values["parent"] = issue_ref_json(api, parent)
        elif EPIC_LINK_FIELD in fields:
            values[EPIC_LINK_FIELD] = parent["key"]
    elif not api.cloud and EPIC_LINK_FIELD in fields:
        values[EPIC_LINK_FIELD] = None
    if STORY_POINTS_FIELD in fields:
        values[STORY_POINTS_FIELD] = row["story_points"]
    if SPRINT_FIELD in fields:
        values[SPRINT_FIELD] = [{"id": 1, "name": row["sprint"], "state": "active"}] if row["sprint"] else None
    if "issuelinks" in fields:
        values["issuelinks"] = issue_links_json(api, row["id"])
    if "subtasks" in fields:
        values["subtasks"] = [
            issue_ref_json(api, child)
            for child in store.query(
                "SELECT i.* FROM issues i JOIN issue_types t ON t.id = i.issue_type_id "
                "WHERE i.parent_id = ? AND t.subtask = 1 ORDER BY i.id",
                (row["id"],),
            )
        ]
    if "comment" in fields:
        values["comment"] = comments_page(api, row["id"], 0, INLINE_COMMENTS)
    return values


def _rendered_fields(api: Api, row: sqlite3.Row, fields: set[str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if "description" in fields:
        result["description"] = rendered(row["description"])
    if "environment" in fields:
        result["environment"] = rendered(row["environment"])
    if "comment" in fields:
        result["comment"] = comments_page(api, row["id"], 0, INLINE_COMMENTS, body=rendered)
    for name, column in (("created", "created"), ("updated", "updated"), ("resolutiondate", "resolved")):
        if name in fields:
            result[name] = display_time(row[column])
    return result


def comment_json(api: Api, row: sqlite3.Row, body: Callable[[str], Any] | None = None) -> dict[str, Any]:
    """The Comment bean; `body` renders the stored ADF (default: the API version's rich text)."""
    author = user_json(api, api.store.user(row["author_id"]))
    result: dict[str, Any] = {
        "self": api.url(f"issue/{row['issue_id']}/comment/{row['id']}"),
        "id": str(row["id"]),
        "author": author,
        "body": body(row["body"]) if body else rich_text(api, row["body"]),
        "updateAuthor": author,
        "created": jira_time(row["created"]),
        "updated": jira_time(row["updated"]),
    }
    restriction = visibility_json(api.store, row, api.cloud)
    if restriction is not None:
        result["visibility"] = restriction
    if api.cloud:
        result["jsdPublic"] = True
    return result


def readable_comments(api: Api, issue_id: int) -> str:
    """The SELECT of the issue's comments the requesting user may read (see `visibility.readable_sql`)."""
    user_id = api.user.id if api.user else None
    return (
        "SELECT c.* FROM comments c JOIN issues i ON i.id = c.issue_id "
        f"WHERE c.issue_id = {int(issue_id)} AND {readable_sql('c', 'i', user_id)}"
    )


def comments_page(
    api: Api, issue_id: int, start_at: int, max_results: int, body: Callable[[str], Any] | None = None
) -> dict[str, Any]:
    """A page of the comments the user may read, oldest first; `total` counts only those."""
    readable = readable_comments(api, issue_id)
    total = api.store.query_one(f"SELECT COUNT(*) FROM ({readable})")[0]
    rows = api.store.query(f"{readable} ORDER BY c.created, c.id LIMIT ? OFFSET ?", (max_results, start_at))
    return {
        "comments": [comment_json(api, r, body) for r in rows],
        "self": api.url(f"issue/{issue_id}/comment"),
        "maxResults": max_results,
        "total": total,
        "startAt": start_at,
    }


def issue_links_json(api: Api, issue_id: int) -> list[dict[str, Any]]:
    """Links as Jira lists them on an issue: each names the *other* issue as inward or outward."""
    store = api.store
    links = []
    rows = store.query(
        "SELECT l.*, t.name, t.inward, t.outward FROM issue_links l JOIN link_types t ON t.id = l.type_id "
        "WHERE l.inward_issue_id = ? OR l.outward_issue_id = ? ORDER BY l.id",
        (issue_id, issue_id),
    )
    for link in rows:
        link_type = link_type_json(api, store.query_one("SELECT * FROM link_types WHERE id = ?", (link["type_id"],)))
        entry: dict[str, Any] = {"id": str(link["id"]), "self": api.url(f"issueLink/{link['id']}"), "type": link_type}
        if link["outward_issue_id"] == issue_id:
            other = store.query_one("SELECT * FROM issues WHERE id = ?", (link["inward_issue_id"],))
            entry["inwardIssue"] = issue_ref_json(api, other)
        else:
            other = store.query_one("SELECT * FROM issues WHERE id = ?", (link["outward_issue_id"],))
            entry["outwardIssue"] = issue_ref_json(api, other)
        links.append(entry)
    return links
