"""Restricted comments: project roles and groups, who may read a comment, and the checks on writing one.

A comment may carry `visibility` `{"type": "role" | "group", "value": NAME}` (Cloud also takes `identifier`: a
role's name or a group's id). Jira stores it, shows the comment only to members of that project role (in the
issue's project) or group, and refuses a restriction the author could not read themselves. Every reader of
comments — the issue's `comment` field and `renderedFields`, the comment endpoints, JQL `comment ~` and
`text ~`, the HTML view — filters with `readable_sql`, so that no path shows a comment another path hides.

The refusals are Jira's own, in the error collection's `commentLevel` key (Jira's `DefaultVisibilityValidator`):
"Role with id: X does not exist.", "You are currently not a member of the project role: X.", "Group: X does
not exist.", "You are currently not a member of the group: X.".
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentflow.sandbox.errors import JiraError

if TYPE_CHECKING:  # the store's text index imports the query compilers, which import this module
    from agentflow.sandbox.store import Store

LEVEL_KEY = "commentLevel"


@dataclass(frozen=True)
class Restriction:
    """A comment's stored restriction: exactly one of a project role's id and a group's id."""

    role_id: int | None = None
    group_id: int | None = None


def readable_sql(comment: str, issue: str, user_id: int | None) -> str:
    """An SQL condition, true when the user may read the comment aliased `comment` of the issue aliased
    `issue`: unrestricted, or restricted to a role the user holds in the issue's project or a group they are
    in. `user_id` is an integer from the store (None: anonymous), so it is written into the SQL."""
    unrestricted = f"({comment}.visibility_role_id IS NULL AND {comment}.visibility_group_id IS NULL)"
    if user_id is None:
        return unrestricted
    user = int(user_id)
    return (
        f"({unrestricted} OR {comment}.visibility_role_id IN (SELECT role_id FROM role_members "
        f"WHERE user_id = {user} AND project_id = {issue}.project_id) "
        f"OR {comment}.visibility_group_id IN (SELECT group_id FROM group_members WHERE user_id = {user}))"
    )


def restriction_for(store: Store, visibility: Any, project_id: int, author_id: int) -> Restriction:
    """The restriction a write's `visibility` asks for (an empty one for None), checked as Jira checks it.

    Raises JiraError 400 when the object is malformed, the role or group does not exist, or the author is
    not in it (a person may not write a comment they could not read)."""
    if visibility is None:
        return Restriction()
    if not isinstance(visibility, dict) or visibility.get("type") not in ("role", "group"):
        raise JiraError(400, [], {LEVEL_KEY: "Visibility must be an object with 'type' of 'role' or 'group'."})
    reference = visibility.get("identifier") or visibility.get("value")
    if not isinstance(reference, str) or not reference.strip():
        raise JiraError(400, [], {LEVEL_KEY: f"Visibility of type '{visibility['type']}' needs a 'value'."})
    if visibility["type"] == "role":
        role = store.query_one(
            "SELECT * FROM project_roles WHERE name = ? COLLATE NOCASE OR CAST(id AS TEXT) = ?", (reference, reference)
        )
        if role is None:
            raise JiraError(400, [], {LEVEL_KEY: f"Role with id: {reference} does not exist."})
        member = store.query_one(
            "SELECT 1 FROM role_members WHERE role_id = ? AND project_id = ? AND user_id = ?",
            (role["id"], project_id, author_id),
        )
        if member is None:
            raise JiraError(
                400, [], {LEVEL_KEY: f"You are currently not a member of the project role: {role['name']}."}
            )
        return Restriction(role_id=role["id"])
    group = store.query_one(
        "SELECT * FROM groups WHERE name = ? COLLATE NOCASE OR group_id = ?", (reference, reference)
    )
    if group is None:
        raise JiraError(400, [], {LEVEL_KEY: f"Group: {reference} does not exist."})
    if (
        store.query_one("SELECT 1 FROM group_members WHERE group_id = ? AND user_id = ?", (group["id"], author_id))
        is None
    ):
        raise JiraError(400, [], {LEVEL_KEY: f"You are currently not a member of the group: {group['name']}."})
    return Restriction(group_id=group["id"])


def visibility_json(store: Store, comment: sqlite3.Row, cloud: bool) -> dict[str, str] | None:
    """A stored comment's `visibility` as Jira shows it: Cloud adds `identifier` (the role's name or the
    group's id); None for an unrestricted comment."""
    if comment["visibility_role_id"] is not None:
        name = store.query_one("SELECT name FROM project_roles WHERE id = ?", (comment["visibility_role_id"],))[0]
        return {"type": "role", "value": name, **({"identifier": name} if cloud else {})}
    if comment["visibility_group_id"] is not None:
        group = store.query_one("SELECT * FROM groups WHERE id = ?", (comment["visibility_group_id"],))
        return {"type": "group", "value": group["name"], **({"identifier": group["group_id"]} if cloud else {})}
    return None
