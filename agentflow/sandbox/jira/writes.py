"""Jira's write endpoints: create and edit issues, comment, transition, assign and link.

Validation answers like Jira: 400 with `errors` keyed by field, using Jira's own texts (an unknown field is
"Field 'x' cannot be set. It is not on the appropriate screen, or unknown."). Rich text must be ADF on v3 and
wiki markup on v2; either way it is stored as ADF.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agentflow.sandbox import richtext
from agentflow.sandbox.errors import FIELD_NOT_SETTABLE, JiraError
from agentflow.sandbox.jira.api import api_for, json_body, require_user, visible_issue
from agentflow.sandbox.jira.issue import comment_json
from agentflow.sandbox.jira.shapes import (
    EPIC_LINK_FIELD,
    STORY_POINTS_FIELD,
    Api,
    account_mention,
    issue_ref_json,
    link_type_json,
)
from agentflow.sandbox.store import User
from agentflow.sandbox.visibility import Restriction, restriction_for

NOT_ADF = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
NOT_STRING = "Operation value must be a string"
# Jira's limit for a multi-line text field (description, environment, a comment's body).
TEXT_LIMIT = 32767
TOO_LONG = "The entered text is too long. It exceeds the allowed limit of 32,767 characters."
EMPTY_COMMENT = "Comment body can not be empty!"
# A field Jira knows but whose value an `update` verb (or `fields`, a `set`) cannot change this way.
NOT_UPDATABLE = "Field does not support update '{}'"


@dataclass
class Changes:
    """What a create or edit sets: issue columns, labels and components (None: leave as they are)."""

    columns: dict[str, Any] = field(default_factory=dict)
    labels: list[str] | None = None
    components: list[int] | None = None
    errors: dict[str, str] = field(default_factory=dict)


def _ref(value: Any) -> str | None:
    """`{"key": X}`, `{"id": X}`, `{"name": X}` or a bare string: the reference inside."""
    if isinstance(value, dict):
        for name in ("key", "id", "name", "accountId", "value"):
            if value.get(name) not in (None, ""):
                return str(value[name])
        return None
    return None if value is None else str(value)


def rich_body(api: Api, value: Any) -> str | None:
    """A body as stored (ADF JSON) from what this API version accepts; ValueError names what was wrong."""
    if value is None:
        return None
    if api.adf:
        if not richtext.is_adf(value):
            raise ValueError(NOT_ADF)
        # Atlassian documents the limit in characters, not how ADF counts; the document's JSON is what is stored.
        if len(json.dumps(value, separators=(",", ":"))) > TEXT_LIMIT:
            raise ValueError(TOO_LONG)
        return json.dumps(value)
    if not isinstance(value, str):
        raise ValueError(NOT_STRING)
    if len(value) > TEXT_LIMIT:
        raise ValueError(TOO_LONG)
    if not value.strip():
        return None
    doc = richtext.map_mentions(richtext.wiki_to_adf(value), lambda ident: account_mention(api.store, ident))
    return json.dumps(doc)


def _text_of(stored: str | None) -> str:
    return richtext.adf_to_text(json.loads(stored)) if stored else ""


class _Resolver:
    """Turns field values from a request into columns, collecting Jira-style errors per field."""

    def __init__(self, api: Api, changes: Changes, project_id: int | None) -> None:
        self.api, self.changes, self.project_id = api, changes, project_id
        self.store = api.store

    def user(self, name: str, value: Any) -> None:
        if value is None:
            self.changes.columns[f"{name}_id"] = None
            return
        reference = _ref(value)
        user = self.store.find_user(reference) if reference else None
        if user is None:
            self.changes.errors[name] = f"User '{reference}' does not exist."
        else:
            self.changes.columns[f"{name}_id"] = user.id

    def priority(self, value: Any) -> None:
        reference = _ref(value)
        row = self.store.query_one("SELECT id FROM priorities WHERE id = ? OR name = ?", (reference, reference))
        if row is None:
            self.changes.errors["priority"] = "The priority selected is invalid."
        else:
            self.changes.columns["priority_id"] = row["id"]

    def parent(self, name: str, value: Any, epic_only: bool) -> None:
        reference = _ref(value)
        if reference is None:
            self.changes.columns["parent_id"] = None
            return
        column = "id" if reference.isdigit() else "key"
        row = self.store.query_one(
            f"SELECT i.id, i.project_id, t.hierarchy_level FROM issues i JOIN issue_types t ON t.id = i.issue_type_id "
            f"WHERE i.{column} = ?",
            (reference.upper(),),
        )
        if row is None or row["project_id"] not in self.store.visible_project_ids(self.api.user.id):
            self.changes.errors[name] = f"Could not find issue by id or key: {reference}"
        elif epic_only and row["hierarchy_level"] != 1:
            self.changes.errors[name] = f"Issue '{reference}' is not an Epic."
        else:
            self.changes.columns["parent_id"] = row["id"]

    def components(self, value: Any) -> list[int] | None:
        if not isinstance(value, list):
            self.changes.errors["components"] = "Components must be a list."
            return None
        ids = []
        for item in value:
            reference = _ref(item)
            row = self.store.query_one(
                "SELECT id FROM components WHERE project_id = ? AND (id = ? OR name = ?)",
                (self.project_id, reference, reference),
            )
            if row is None:
                self.changes.errors["components"] = f"Component name '{reference}' is not valid"
                return None
            ids.append(row["id"])
        return ids


def _labels(value: Any, changes: Changes) -> list[str] | None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        changes.errors["labels"] = "Labels must be a list of strings."
        return None
    for label in value:
        if not label or any(c.isspace() for c in label):
            changes.errors["labels"] = f"The label '{label}' contains spaces which is invalid."
            return None
    return sorted(set(value))


_SETTABLE = frozenset(
    {"summary", "description", "environment", "priority", "assignee", "reporter", "labels", "components", "parent"}
    | {STORY_POINTS_FIELD}
)
# The fields whose `update` takes more verbs than `set`; the others take `set` only.
_LIST_FIELDS = frozenset({"labels", "components"})


def settable(api: Api, name: str) -> bool:
    """Whether a create or an edit may set the field (on Jira: it is on the screen)."""
    return name in _SETTABLE or (name == EPIC_LINK_FIELD and not api.cloud)


def resolve_fields(api: Api, fields: dict[str, Any], project_id: int | None, creating: bool = False) -> Changes:
    """Every settable field in `fields` as columns; anything else is Jira's "cannot be set" error. The rules
    of create and edit alike: an edit's `update` verbs come here too (as a `set`, or through `_labels`).

    `project_id` is the issue's project (components belong to it). Creating, `project` and `issuetype` are
    resolved by the caller; editing, they cannot be changed here (moving issues is not supported).
    """
    changes = Changes()
    resolver = _Resolver(api, changes, project_id)
    for name, value in fields.items():
        if name in ("project", "issuetype"):
            if not creating:
                changes.errors[name] = FIELD_NOT_SETTABLE.format(name)
        elif not settable(api, name):
            changes.errors[name] = FIELD_NOT_SETTABLE.format(name)
        elif name == "summary":
            if not isinstance(value, str) or not value.strip():
                changes.errors["summary"] = "You must specify a summary of the issue."
            elif len(value) > 255:
                changes.errors["summary"] = "Summary must be less than 255 characters."
            else:
                changes.columns["summary"] = value.strip()
        elif name in ("description", "environment"):
            try:
                stored = rich_body(api, value)
            except ValueError as exc:
                changes.errors[name] = str(exc)
                continue
            changes.columns[name] = stored
            if name == "description":
                changes.columns["description_text"] = _text_of(stored)
        elif name == "priority":
            resolver.priority(value)
        elif name in ("assignee", "reporter"):
            resolver.user(name, value)
        elif name == "labels":
            changes.labels = _labels(value, changes)
        elif name == "components":
            changes.components = resolver.components(value)
        elif name == "parent":
            resolver.parent("parent", value, epic_only=False)
        elif name == EPIC_LINK_FIELD:
            resolver.parent(EPIC_LINK_FIELD, value, epic_only=True)
        elif name == STORY_POINTS_FIELD:
            if value is not None and not isinstance(value, int | float):
                changes.errors[name] = "Operation value must be a number"
            else:
                changes.columns["story_points"] = value
    return changes


def _write_relations(conn: sqlite3.Connection, issue_id: int, changes: Changes) -> None:
    if changes.labels is not None:
        conn.execute("DELETE FROM issue_labels WHERE issue_id = ?", (issue_id,))
        conn.executemany("INSERT INTO issue_labels VALUES (?, ?)", [(issue_id, label) for label in changes.labels])
    if changes.components is not None:
        conn.execute("DELETE FROM issue_components WHERE issue_id = ?", (issue_id,))
        conn.executemany(
            "INSERT INTO issue_components VALUES (?, ?)", [(issue_id, c) for c in sorted(set(changes.components))]
        )


async def create_issue(request: Request) -> Response:
    api = require_user(api_for(request))
    body = await json_body(request)
    fields = body.get("fields") if isinstance(body, dict) else None
    if not isinstance(fields, dict):
        raise JiraError(400, "No fields were specified in the request.")
    store = api.store
    errors: dict[str, str] = {}
    project_ref = _ref(fields.get("project"))
    project = store.query_one(
        "SELECT * FROM projects WHERE id = ? OR key = ? COLLATE NOCASE", (project_ref, project_ref)
    )
    if project is None or project["id"] not in store.visible_project_ids(api.user.id):
        errors["project"] = "Specify a valid project ID or key"
    type_ref = _ref(fields.get("issuetype"))
    issue_type = store.query_one("SELECT * FROM issue_types WHERE id = ? OR name = ?", (type_ref, type_ref))
    if issue_type is None:
        errors["issuetype"] = "Specify an issue type" if type_ref is None else "Specify a valid issue type"
    if "summary" not in fields:
        errors["summary"] = "You must specify a summary of the issue."
    changes = resolve_fields(api, fields, project["id"] if project else None, creating=True)
    errors.update(changes.errors)
    if errors:
        raise JiraError(400, [], errors)
    now = store.now()
    columns = {"reporter_id": api.user.id, **changes.columns}
    with store.transaction() as conn:
        number = conn.execute("SELECT next_number FROM projects WHERE id = ?", (project["id"],)).fetchone()[0]
        conn.execute("UPDATE projects SET next_number = next_number + 1 WHERE id = ?", (project["id"],))
        initial = conn.execute("SELECT id FROM statuses WHERE category = 'new' ORDER BY id LIMIT 1").fetchone()[0]
        row = {
            "project_id": project["id"],
            "number": number,
            "key": f"{project['key']}-{number}",
            "issue_type_id": issue_type["id"],
            "status_id": initial,
            "created": now,
            "updated": now,
            **columns,
        }
        names = ", ".join(row)
        cursor = conn.execute(f"INSERT INTO issues ({names}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
        issue_id = cursor.lastrowid
        _write_relations(conn, issue_id, changes)
    return JSONResponse({"id": str(issue_id), "key": row["key"], "self": api.url(f"issue/{issue_id}")}, status_code=201)


def _apply_update_verbs(api: Api, issue: sqlite3.Row, update: dict[str, Any], changes: Changes) -> list[dict[str, Any]]:
    """Jira's `update` verbs: add/remove/set for labels and components, `set` for the other settable fields,
    and `comment: [{add: {body, visibility}}]` (the comment objects are returned). A verb a field does not take
    is refused."""
    comments: list[Any] = []
    for name, operations in update.items():
        if not isinstance(operations, list) or not all(isinstance(op, dict) for op in operations):
            changes.errors[name] = "Operations must be a list."
            continue
        verbs = [(verb, value) for operation in operations for verb, value in operation.items()]
        allowed = {"add", "remove", "set"} if name in _LIST_FIELDS else {"add"} if name == "comment" else {"set"}
        if name != "comment" and not settable(api, name):
            # Links are made through /issueLink here; any other name is one the edit screen does not have.
            changes.errors[name] = (NOT_UPDATABLE if name == "issuelinks" else FIELD_NOT_SETTABLE).format(name)
        elif any(verb not in allowed for verb, _ in verbs):
            changes.errors[name] = NOT_UPDATABLE.format(name)
        elif name == "comment":
            comments += [value if isinstance(value, dict) else {} for _, value in verbs]
        elif name in _LIST_FIELDS:
            _apply_list_verbs(api, issue, name, verbs, changes)
        else:
            for _, value in verbs:
                _merge(changes, resolve_fields(api, {name: value}, issue["project_id"]))
    return comments


def _apply_list_verbs(api: Api, issue: sqlite3.Row, name: str, verbs: list[tuple[str, Any]], changes: Changes) -> None:
    """Labels or components after add/remove/set, starting from what `fields` set or else the issue's own."""
    if name == "labels":
        current: list[Any] | None = changes.labels
        table, column = "issue_labels", "label"
    else:
        current = changes.components
        table, column = "issue_components", "component_id"
    if current is None:
        current = [
            row[0] for row in api.store.query(f"SELECT {column} FROM {table} WHERE issue_id = ?", (issue["id"],))
        ]
    values = list(current)
    for verb, value in verbs:
        if name == "components":  # references become ids, by the same rule as `fields.components`
            ids = _Resolver(api, changes, issue["project_id"]).components(value if verb == "set" else [value])
            if ids is None:
                return
            value = ids if verb == "set" else ids[0]
        if verb == "set":
            values = list(value) if isinstance(value, list) else [value]
        elif verb == "add":
            values.append(value)
        elif value in values:
            values.remove(value)
    if name == "labels":
        changes.labels = _labels(values, changes)
    else:
        changes.components = sorted(set(values))


def _merge(changes: Changes, more: Changes) -> None:
    changes.columns.update(more.columns)
    changes.errors.update(more.errors)


async def edit_issue(request: Request) -> Response:
    api = require_user(api_for(request))
    issue = visible_issue(api, request.path_params["key"])
    body = await json_body(request)
    if not isinstance(body, dict):
        raise JiraError(400, "Can not deserialize the request body: expected a JSON object.")
    fields, update = body.get("fields") or {}, body.get("update") or {}
    if not isinstance(fields, dict) or not isinstance(update, dict):
        raise JiraError(400, "Can not deserialize the request body: expected a JSON object.")
    changes = resolve_fields(api, fields, issue["project_id"])
    comments = _apply_update_verbs(api, issue, update, changes)
    new_comments = [c for c in (_new_comment(api, issue, comment, changes.errors) for comment in comments) if c]
    if changes.errors:
        raise JiraError(400, [], changes.errors)
    now = api.store.now()
    with api.store.transaction() as conn:
        columns = {**changes.columns, "updated": now}
        assignments = ", ".join(f"{name} = ?" for name in columns)
        conn.execute(f"UPDATE issues SET {assignments} WHERE id = ?", [*columns.values(), issue["id"]])
        _write_relations(conn, issue["id"], changes)
        for comment in new_comments:
            _insert_comment(conn, issue["id"], api.user, comment, now)
    return Response(status_code=204)


@dataclass(frozen=True)
class _NewComment:
    stored: str  # ADF JSON
    restriction: Restriction


def _new_comment(api: Api, issue: sqlite3.Row, comment: Any, errors: dict[str, str]) -> _NewComment | None:
    """A comment object of a write (`{"body": ..., "visibility": ...}`) checked; its problems go to `errors`
    under Jira's keys (`comment`, `commentLevel`) and None is returned."""
    if not isinstance(comment, dict) or comment.get("body") in (None, ""):
        errors["comment"] = EMPTY_COMMENT
        return None
    try:
        stored = rich_body(api, comment["body"])
        restriction = restriction_for(api.store, comment.get("visibility"), issue["project_id"], api.user.id)
    except ValueError as exc:
        errors["comment"] = str(exc)
        return None
    except JiraError as exc:
        errors.update(exc.errors)
        return None
    if stored is None:  # blank wiki markup
        errors["comment"] = EMPTY_COMMENT
        return None
    return _NewComment(stored, restriction)


def _insert_comment(conn: sqlite3.Connection, issue_id: int, author: User, comment: _NewComment, now: float) -> int:
    cursor = conn.execute(
        "INSERT INTO comments (issue_id, author_id, body, body_text, created, updated, visibility_role_id,"
        " visibility_group_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            issue_id,
            author.id,
            comment.stored,
            _text_of(comment.stored),
            now,
            now,
            comment.restriction.role_id,
            comment.restriction.group_id,
        ),
    )
    conn.execute("UPDATE issues SET updated = ? WHERE id = ?", (now, issue_id))
    return cursor.lastrowid


async def add_comment(request: Request) -> Response:
    api = require_user(api_for(request))
    issue = visible_issue(api, request.path_params["key"])
    body = await json_body(request)
    errors: dict[str, str] = {}
    comment = _new_comment(api, issue, body, errors)
    if comment is None:
        raise JiraError(400, [], errors)
    with api.store.transaction() as conn:
        comment_id = _insert_comment(conn, issue["id"], api.user, comment, api.store.now())
    row = api.store.query_one("SELECT * FROM comments WHERE id = ?", (comment_id,))
    return JSONResponse(comment_json(api, row), status_code=201)


async def do_transition(request: Request) -> Response:
    api = require_user(api_for(request))
    issue = visible_issue(api, request.path_params["key"])
    body = await json_body(request)
    reference = _ref(body.get("transition")) if isinstance(body, dict) else None
    transition = api.store.query_one(
        "SELECT * FROM transitions WHERE id = ? AND (from_status_id IS NULL OR from_status_id = ?)",
        (reference, issue["status_id"]),
    )
    if transition is None:
        raise JiraError(400, f"Transition id '{reference}' is not valid for this issue.")
    target = api.store.query_one("SELECT * FROM statuses WHERE id = ?", (transition["to_status_id"],))
    now = api.store.now()
    resolution_field = (body.get("fields") or {}).get("resolution")
    if target["category"] == "done":
        resolution, resolved = _ref(resolution_field) or "Done", now
    else:
        resolution, resolved = None, None
    errors: dict[str, str] = {}
    operations = (body.get("update") or {}).get("comment") or []
    added = [op["add"] for op in operations if isinstance(op, dict) and isinstance(op.get("add"), dict)]
    comments = [c for c in (_new_comment(api, issue, comment, errors) for comment in added) if c]
    if errors:
        raise JiraError(400, [], errors)
    with api.store.transaction() as conn:
        conn.execute(
            "UPDATE issues SET status_id = ?, resolution = ?, resolved = ?, updated = ? WHERE id = ?",
            (target["id"], resolution, resolved, now, issue["id"]),
        )
        for comment in comments:
            _insert_comment(conn, issue["id"], api.user, comment, now)
    return Response(status_code=204)


async def assign(request: Request) -> Response:
    api = require_user(api_for(request))
    issue = visible_issue(api, request.path_params["key"])
    body = await json_body(request)
    changes = resolve_fields(api, {"assignee": body if body and _ref(body) else None}, issue["project_id"])
    if changes.errors:
        raise JiraError(400, [], changes.errors)
    with api.store.transaction() as conn:
        conn.execute(
            "UPDATE issues SET assignee_id = ?, updated = ? WHERE id = ?",
            (changes.columns["assignee_id"], api.store.now(), issue["id"]),
        )
    return Response(status_code=204)


async def link_issues(request: Request) -> Response:
    """Returns nothing on success, like Jira; linking twice is not an error."""
    api = require_user(api_for(request))
    body = await json_body(request)
    if not isinstance(body, dict):
        raise JiraError(400, "Can not deserialize the request body: expected a JSON object.")
    type_ref = _ref(body.get("type"))
    link_type = api.store.query_one("SELECT * FROM link_types WHERE id = ? OR name = ?", (type_ref, type_ref))
    if link_type is None:
        raise JiraError(404, f"No issue link type with name '{type_ref}' found.")
    ends = []
    for end in ("inwardIssue", "outwardIssue"):
        reference = _ref(body.get(end))
        if reference is None:
            raise JiraError(400, [], {end: f"{end} is required"})
        ends.append(visible_issue(api, reference))
    inward, outward = ends
    errors: dict[str, str] = {}
    comment = _new_comment(api, inward, body["comment"], errors) if body.get("comment") is not None else None
    if errors:
        raise JiraError(400, [], errors)
    with api.store.transaction() as conn:
        conn.execute(
            "INSERT OR IGNORE INTO issue_links (type_id, inward_issue_id, outward_issue_id) VALUES (?, ?, ?)",
            (link_type["id"], inward["id"], outward["id"]),
        )
        conn.execute("UPDATE issues SET updated = ? WHERE id IN (?, ?)", (api.store.now(), inward["id"], outward["id"]))
        if comment is not None:
            _insert_comment(conn, inward["id"], api.user, comment, api.store.now())
    return Response(status_code=201)


async def get_link(request: Request) -> Response:
    api = require_user(api_for(request))
    link = api.store.query_one("SELECT * FROM issue_links WHERE id = ?", (request.path_params["link_id"],))
    visible = api.store.visible_project_ids(api.user.id)
    issues = [
        api.store.query_one("SELECT * FROM issues WHERE id = ?", (link[c],)) if link else None
        for c in ("inward_issue_id", "outward_issue_id")
    ]
    if link is None or any(i is None or i["project_id"] not in visible for i in issues):
        raise JiraError(404, f"No issue link with id '{request.path_params['link_id']}' exists.")
    link_type = api.store.query_one("SELECT * FROM link_types WHERE id = ?", (link["type_id"],))
    return JSONResponse(
        {
            "id": str(link["id"]),
            "self": api.url(f"issueLink/{link['id']}"),
            "type": link_type_json(api, link_type),
            "inwardIssue": issue_ref_json(api, issues[0]),
            "outwardIssue": issue_ref_json(api, issues[1]),
        }
    )


def routes() -> list[Route]:
    v = "/rest/api/{version}"
    return [
        Route(f"{v}/issue", create_issue, methods=["POST"]),
        Route(f"{v}/issue/{{key}}", edit_issue, methods=["PUT"]),
        Route(f"{v}/issue/{{key}}/comment", add_comment, methods=["POST"]),
        Route(f"{v}/issue/{{key}}/transitions", do_transition, methods=["POST"]),
        Route(f"{v}/issue/{{key}}/assignee", assign, methods=["PUT"]),
        Route(f"{v}/issueLink", link_issues, methods=["POST"]),
        Route(f"{v}/issueLink/{{link_id}}", get_link, methods=["GET"]),
    ]
