"""Jira's JSON shapes: issues, users, projects, statuses and friends, for the Cloud and Data Center flavors.

REST v3 carries rich text as ADF, v2 as wiki markup (on Cloud as on Data Center). Cloud users are identified
by `accountId`; Data Center users by `key` and `name`. Epics: Cloud uses `parent`; Data Center the "Epic
Link" custom field.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from agentflow.sandbox import richtext
from agentflow.sandbox.store import Store, User

EPIC_LINK_FIELD = "customfield_10014"
RENAMED_META = "renamed_fields"  # store meta: a JSON object of custom field id -> the name the site shows
# Cloud's estimate field has a type of its own; Data Center's "Story Points" is a plain number field.
POINTS_TYPE = "com.pyxis.greenhopper.jira:jsw-story-points"
NUMBER_TYPE = "com.atlassian.jira.plugin.system.customfieldtypes:float"
EPIC_LINK_TYPE = "com.pyxis.greenhopper.jira:gh-epic-link"
SPRINT_TYPE = "com.pyxis.greenhopper.jira:gh-sprint"
STORY_POINTS_FIELD = "customfield_10016"
SPRINT_FIELD = "customfield_10020"
ISSUE_EXPAND = "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations"

CATEGORIES = {
    "new": (2, "blue-gray", "To Do"),
    "indeterminate": (4, "yellow", "In Progress"),
    "done": (3, "green", "Done"),
}


@dataclass(frozen=True)
class Api:
    """Who asks and how: the site's store and flavor, the request's base URL, REST version and user."""

    store: Store
    flavor: str  # "cloud" | "dc"
    base: str  # e.g. "http://127.0.0.1:8080" without a trailing slash
    version: str  # "2" | "3" | "latest"
    user: User | None

    @property
    def cloud(self) -> bool:
        return self.flavor == "cloud"

    @property
    def renamed(self) -> dict[str, str]:
        """Custom field id -> the name this site shows for it (see `Site.open(field_names=...)`)."""
        return json.loads(self.store.meta(RENAMED_META) or "{}")

    @property
    def adf(self) -> bool:
        return self.version == "3"

    def url(self, path: str) -> str:
        return f"{self.base}/rest/api/{self.version}/{path}"


def jira_time(epoch: float | None) -> str | None:
    """Jira's timestamp format: `2026-11-26T08:06:15.000+0000`."""
    if epoch is None:
        return None
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def display_time(epoch: float | None) -> str | None:
    """How `renderedFields` shows a time: `26/Nov/26 8:06 AM`."""
    if epoch is None:
        return None
    moment = datetime.fromtimestamp(epoch, UTC)
    return f"{moment:%d/%b/%y} {moment.hour % 12 or 12}:{moment:%M %p}"


def rich_text(api: Api, stored: str | None) -> Any:
    """A stored ADF body as this API version carries it: ADF for v3, wiki markup for v2."""
    if stored is None:
        return None
    doc = json.loads(stored)
    if api.adf:
        return doc
    if not api.cloud:
        doc = richtext.map_mentions(doc, lambda ident: _dc_mention(api.store, ident))
    return richtext.adf_to_wiki(doc)


def _dc_mention(store: Store, ident: str) -> tuple[str, str] | None:
    """Data Center names people by username: `[~sre]`, not `[~accountid:...]`."""
    user = store.find_user(ident)
    return (user.username, "@" + user.username) if user else None


def account_mention(store: Store, ident: str) -> tuple[str, str] | None:
    """Stored mentions carry account ids and display names, whichever API wrote them."""
    user = store.find_user(ident)
    return (user.account_id, "@" + user.display_name) if user else None


def rendered(stored: str | None) -> str | None:
    return None if stored is None else richtext.adf_to_html(json.loads(stored))


def avatar_urls(base: str, kind: str, ident: str | int) -> dict[str, str]:
    return {f"{n}x{n}": f"{base}/secure/{kind}avatar?size={n}&avatarId={ident}" for n in (48, 24, 16, 32)}


def user_json(api: Api, user: User | None) -> dict[str, Any] | None:
    if user is None:
        return None
    if api.cloud:
        return {
            "self": api.url(f"user?accountId={user.account_id}"),
            "accountId": user.account_id,
            "accountType": user.account_type,
            "emailAddress": user.email,
            "avatarUrls": avatar_urls(api.base, "user", user.id),
            "displayName": user.display_name,
            "active": user.active,
            "timeZone": user.time_zone,
        }
    return {
        "self": api.url(f"user?username={user.username}"),
        "name": user.username,
        "key": user.username,
        "emailAddress": user.email,
        "avatarUrls": avatar_urls(api.base, "user", user.id),
        "displayName": user.display_name,
        "active": user.active,
        "timeZone": user.time_zone,
    }


def myself_json(api: Api, user: User) -> dict[str, Any]:
    body = user_json(api, user) or {}
    body["locale"] = "en_US"
    body["groups"] = {"size": 1, "items": []}
    body["applicationRoles"] = {"size": 1, "items": []}
    body["expand"] = "groups,applicationRoles"
    if not api.cloud:
        body["deleted"] = False
        body["lastLoginTime"] = jira_time(api.store.now())
    return body


def status_category_json(api: Api, key: str) -> dict[str, Any]:
    ident, colour, name = CATEGORIES[key]
    return {"self": api.url(f"statuscategory/{ident}"), "id": ident, "key": key, "colorName": colour, "name": name}


def status_json(api: Api, row: sqlite3.Row) -> dict[str, Any]:
    return {
        "self": api.url(f"status/{row['id']}"),
        "description": "",
        "iconUrl": f"{api.base}/images/icons/statuses/generic.png",
        "name": row["name"],
        "id": str(row["id"]),
        "statusCategory": status_category_json(api, row["category"]),
    }


def issue_type_json(api: Api, row: sqlite3.Row) -> dict[str, Any]:
    body: dict[str, Any] = {
        "self": api.url(f"issuetype/{row['id']}"),
        "id": str(row["id"]),
        "description": row["description"],
        "iconUrl": f"{api.base}/images/icons/issuetypes/{row['name'].lower().replace(' ', '')}.svg",
        "name": row["name"],
        "subtask": bool(row["subtask"]),
    }
    if api.cloud:
        body["hierarchyLevel"] = row["hierarchy_level"]
    return body


def priority_json(api: Api, row: sqlite3.Row) -> dict[str, Any]:
    return {
        "self": api.url(f"priority/{row['id']}"),
        "iconUrl": f"{api.base}/images/icons/priorities/{row['name'].lower()}.svg",
        "name": row["name"],
        "id": str(row["id"]),
    }


def project_json(api: Api, row: sqlite3.Row, full: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "expand": "description,lead,issueTypes,url,projectKeys,permissions,insight",
        "self": api.url(f"project/{row['id']}"),
        "id": str(row["id"]),
        "key": row["key"],
        "name": row["name"],
        "avatarUrls": avatar_urls(api.base, "project", row["id"]),
        "projectTypeKey": "software",
    }
    if api.cloud:
        body["simplified"] = False
        body["style"] = "classic"
        body["isPrivate"] = bool(row["restricted"])
    if full:
        store = api.store
        body["description"] = row["description"]
        body["lead"] = user_json(api, store.user(row["lead_id"])) if row["lead_id"] else None
        body["components"] = [component_json(api, c) for c in components_of_project(store, row["id"])]
        body["issueTypes"] = [issue_type_json(api, t) for t in store.query("SELECT * FROM issue_types ORDER BY id")]
        body["assigneeType"] = "UNASSIGNED"
        body["versions"] = []
        body["roles"] = {}
    return body


def components_of_project(store: Store, project_id: int) -> list[sqlite3.Row]:
    return store.query("SELECT * FROM components WHERE project_id = ? ORDER BY name", (project_id,))


def component_json(api: Api, row: sqlite3.Row) -> dict[str, Any]:
    return {
        "self": api.url(f"component/{row['id']}"),
        "id": str(row["id"]),
        "name": row["name"],
        "description": row["description"],
    }


def link_type_json(api: Api, row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "inward": row["inward"],
        "outward": row["outward"],
        "self": api.url(f"issueLinkType/{row['id']}"),
    }


def resolution_json(api: Api, name: str | None) -> dict[str, Any] | None:
    if name is None:
        return None
    ident = {"Done": 10000, "Won't Do": 10001, "Duplicate": 10002, "Cannot Reproduce": 10003}.get(name, 10000)
    return {"self": api.url(f"resolution/{ident}"), "id": str(ident), "description": "", "name": name}


# --- fields -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldDef:
    id: str
    name: str
    schema: dict[str, Any]
    custom: bool = False
    navigable: bool = True
    clause_names: tuple[str, ...] = ()


def field_defs(cloud: bool, renamed: Mapping[str, str] | None = None) -> list[FieldDef]:
    """The fields `GET /field` lists: the system fields we serve, and the custom ones of agile boards; `renamed`
    gives custom fields other names by id, as a site whose admin renamed or translated them shows them."""
    system = [
        FieldDef("summary", "Summary", {"type": "string", "system": "summary"}, clause_names=("summary",)),
        FieldDef("description", "Description", {"type": "string", "system": "description"}),
        FieldDef("environment", "Environment", {"type": "string", "system": "environment"}),
        FieldDef("issuetype", "Issue Type", {"type": "issuetype", "system": "issuetype"}, clause_names=("type",)),
        FieldDef("project", "Project", {"type": "project", "system": "project"}, clause_names=("project",)),
        FieldDef("status", "Status", {"type": "status", "system": "status"}, clause_names=("status",)),
        FieldDef("priority", "Priority", {"type": "priority", "system": "priority"}, clause_names=("priority",)),
        FieldDef("assignee", "Assignee", {"type": "user", "system": "assignee"}, clause_names=("assignee",)),
        FieldDef("reporter", "Reporter", {"type": "user", "system": "reporter"}, clause_names=("reporter",)),
        FieldDef("creator", "Creator", {"type": "user", "system": "creator"}, clause_names=("creator",)),
        FieldDef(
            "labels", "Labels", {"type": "array", "items": "string", "system": "labels"}, clause_names=("labels",)
        ),
        FieldDef(
            "components",
            "Components",
            {"type": "array", "items": "component", "system": "components"},
            clause_names=("component",),
        ),
        FieldDef("created", "Created", {"type": "datetime", "system": "created"}, clause_names=("created",)),
        FieldDef("updated", "Updated", {"type": "datetime", "system": "updated"}, clause_names=("updated",)),
        FieldDef("resolutiondate", "Resolved", {"type": "datetime", "system": "resolutiondate"}),
        FieldDef("resolution", "Resolution", {"type": "resolution", "system": "resolution"}),
        FieldDef("parent", "Parent", {"type": "issuelink", "system": "parent"}, clause_names=("parent",)),
        FieldDef("issuelinks", "Linked Issues", {"type": "array", "items": "issuelinks", "system": "issuelinks"}),
        FieldDef(
            "comment", "Comment", {"type": "comments-page", "system": "comment"}, navigable=False, clause_names=()
        ),
        FieldDef("subtasks", "Sub-tasks", {"type": "array", "items": "issuelinks", "system": "subtasks"}),
    ]
    custom = [
        FieldDef(
            STORY_POINTS_FIELD,
            "Story point estimate" if cloud else "Story Points",
            {"type": "number", "customId": 10016, "custom": POINTS_TYPE if cloud else NUMBER_TYPE},
            custom=True,
        ),
        FieldDef(
            SPRINT_FIELD,
            "Sprint",
            {"type": "array", "items": "json", "custom": SPRINT_TYPE, "customId": 10020},
            custom=True,
        ),
    ]
    if not cloud:
        custom.append(_EPIC_LINK)
    return system + [_named(f, renamed or {}) for f in custom]


_EPIC_LINK = FieldDef(
    EPIC_LINK_FIELD, "Epic Link", {"type": "any", "custom": EPIC_LINK_TYPE, "customId": 10014}, custom=True
)


def _named(field: FieldDef, renamed: Mapping[str, str]) -> FieldDef:
    """A custom field under the name the site shows, with Jira's clause names for it: `cf[N]` and that name."""
    name = renamed.get(field.id, field.name)
    return replace(field, name=name, clause_names=(f"cf[{field.schema['customId']}]", name))


def jql_custom_clauses(cloud: bool, renamed: Mapping[str, str] | None = None) -> dict[str, str]:
    """JQL clause name (lowercased) -> custom field type, for the sandbox's JQL (QueryContext.custom_clauses):
    a renamed field answers to its new name and `cf[N]`, and no longer to its old name."""
    fields = [f for f in field_defs(cloud, renamed) if f.custom]
    if cloud:  # Cloud's fields leave Epic Link out (REST moved epics to `parent`); its JQL clause stays, as before
        fields.append(_named(_EPIC_LINK, renamed or {}))
    return {name.lower(): f.schema["custom"] for f in fields for name in f.clause_names}


def field_json(field: FieldDef) -> dict[str, Any]:
    return {
        "id": field.id,
        "key": field.id,
        "name": field.name,
        "custom": field.custom,
        "orderable": True,
        "navigable": field.navigable,
        "searchable": True,
        "clauseNames": list(field.clause_names) or [field.id],
        "schema": field.schema,
    }


def issue_ref_json(api: Api, row: sqlite3.Row) -> dict[str, Any]:
    """The short form of an issue inside another: parent, links, sub-tasks."""
    store = api.store
    status = store.query_one("SELECT * FROM statuses WHERE id = ?", (row["status_id"],))
    issue_type = store.query_one("SELECT * FROM issue_types WHERE id = ?", (row["issue_type_id"],))
    fields: dict[str, Any] = {
        "summary": row["summary"],
        "status": status_json(api, status),
        "issuetype": issue_type_json(api, issue_type),
    }
    if row["priority_id"] is not None:
        priority = store.query_one("SELECT * FROM priorities WHERE id = ?", (row["priority_id"],))
        fields["priority"] = priority_json(api, priority)
    return {"id": str(row["id"]), "key": row["key"], "self": api.url(f"issue/{row['id']}"), "fields": fields}


def transitions_json(api: Api, issue: sqlite3.Row) -> list[dict[str, Any]]:
    """The transitions available from the issue's current status (global ones included)."""
    rows = api.store.query(
        "SELECT * FROM transitions WHERE (from_status_id IS NULL OR from_status_id = ?) AND to_status_id != ? "
        "ORDER BY id",
        (issue["status_id"], issue["status_id"]),
    )
    transitions = []
    for row in rows:
        target = api.store.query_one("SELECT * FROM statuses WHERE id = ?", (row["to_status_id"],))
        transitions.append(
            {
                "id": str(row["id"]),
                "name": row["name"],
                "to": status_json(api, target),
                "hasScreen": False,
                "isGlobal": True,
                "isInitial": False,
                "isAvailable": True,
                "isConditional": False,
                "isLooped": False,
            }
        )
    return transitions
