"""Jira through its REST API, for Cloud (v3, ADF, `search/jql`) and Data Center (v2, wiki markup, `search`).

Everything returned is already flavor-neutral (`models`), with rich text as Markdown. Field ids that differ
per instance (Epic Link, story points) are discovered once per server: from the first search's own answer
(its `names` and `schema` expansions), or from `/field` when something needs them before any search.
"""

from __future__ import annotations

import base64
from typing import Any

from agentflow.atlassian import convert
from agentflow.atlassian.errors import ToolInputError
from agentflow.atlassian.http import AtlassianHTTP
from agentflow.atlassian.models import Comment, Issue, IssueSearch, IssueSummary, Link, Written

SUMMARY_FIELDS = [
    "summary", "issuetype", "status", "priority", "assignee", "created", "updated", "resolution", "labels",
    "components", "parent",
]  # fmt: skip
STORY_POINT_NAMES = ("Story point estimate", "Story Points")
EPIC_LINK_TYPE = "com.pyxis.greenhopper.jira:gh-epic-link"  # Jira Software's Epic Link field, any name
POINTS_TYPE = "com.pyxis.greenhopper.jira:jsw-story-points"  # Cloud's story point estimate, any name
INLINE_COMMENTS = 20


class JiraAPI:
    def __init__(self, http: AtlassianHTTP, cloud: bool, browse_url: str, max_body_chars: int = 6000) -> None:
        self.http = http
        self.cloud = cloud
        self.version = "3" if cloud else "2"
        self.browse_url = browse_url.rstrip("/")
        self.max_body_chars = max_body_chars
        self._custom_ids: tuple[str | None, str | None] | None = None  # (Epic Link, story points)

    # --- helpers ---------------------------------------------------------------------------------------

    def _path(self, path: str) -> str:
        return f"/rest/api/{self.version}/{path}"

    def _custom_ids_in(self, fields: list[dict[str, Any]]) -> tuple[str | None, str | None]:
        """(Epic Link id, story points id) among `fields` (`{id, name, schema}` each, as `/field` lists them):
        they differ per instance, and a site may rename or translate them (`Lien d'epic`), so a custom field is
        found by its type (`schema.custom`) first and by its English name only where its type says nothing.
        Cloud has no Epic Link: its epics are parents."""
        by_name = {f["name"]: f["id"] for f in fields}
        by_type: dict[str, str] = {}
        for field in fields:
            custom = (field.get("schema") or {}).get("custom")
            if isinstance(custom, str):
                by_type.setdefault(custom, field["id"])
        epic = None if self.cloud else by_type.get(EPIC_LINK_TYPE) or by_name.get("Epic Link")
        # Data Center's Story Points is a plain number field: there its name is all that tells it apart.
        points = by_type.get(POINTS_TYPE) or next((by_name[n] for n in STORY_POINT_NAMES if n in by_name), None)
        return epic, points

    async def _custom_fields(self) -> tuple[str | None, str | None]:
        """(Epic Link id, story points id), from `/field` (Jira REST "Get fields") unless a search told them."""
        if self._custom_ids is None:
            self._custom_ids = self._custom_ids_in(await self.http.get(self._path("field")))
        return self._custom_ids

    def _to_markdown(self, body: Any) -> str:
        if body is None:
            return ""
        return convert.adf_to_markdown(body) if self.cloud else convert.wiki_to_markdown(body)

    def _from_markdown(self, text: str) -> Any:
        return convert.markdown_to_adf(text) if self.cloud else convert.markdown_to_wiki(text)

    def url(self, key: str) -> str:
        return f"{self.browse_url}/browse/{key}"

    # --- reads -----------------------------------------------------------------------------------------

    async def search(
        self, jql: str, limit: int = 20, page_token: str | None = None, fields: list[str] | None = None
    ) -> IssueSearch:
        """Cloud: `POST /rest/api/3/search/jql`; Data Center: `POST /rest/api/2/search` (Jira REST "Search for
        issues using JQL"). While the custom field ids are not known, the search asks for every navigable field
        with their names and schema (`expand=names,schema`) and learns the ids from its own answer: a larger
        answer once per server instead of a `/field` request before it."""
        body: dict[str, Any] = {"jql": jql, "maxResults": limit}
        if self._custom_ids is None:
            body["fields"] = [*SUMMARY_FIELDS, "*navigable", *(fields or [])]
            # Cloud's search/jql takes `expand` as a comma-separated string, Data Center's search as a list.
            body["expand"] = "names,schema" if self.cloud else ["names", "schema"]
        else:
            custom = [f for f in self._custom_ids if f]
            body["fields"] = SUMMARY_FIELDS + custom + list(fields or [])
        if self.cloud:
            if page_token:
                body["nextPageToken"] = page_token
            page = await self.http.post(self._path("search/jql"), body)
        else:
            start = _decode_offset(page_token)
            page = await self.http.post(self._path("search"), body | {"startAt": start})
        names = page.get("names")
        if self._custom_ids is None and names:
            schema = page.get("schema") or {}
            self._custom_ids = self._custom_ids_in(
                [{"id": i, "name": n, "schema": schema.get(i)} for i, n in names.items()]
            )
        epic_field, points_field = await self._custom_fields()  # `/field` only if the answer named no fields
        issues = [self._summary(i, epic_field, points_field, fields) for i in page.get("issues", [])]
        if self.cloud:
            return IssueSearch(jql=jql, issues=issues, next_page_token=page.get("nextPageToken"))
        total = page.get("total")
        following = start + len(issues)
        token = _encode_offset(following) if total is not None and following < total and issues else None
        return IssueSearch(jql=jql, issues=issues, total=total, next_page_token=token)

    def _summary(
        self, raw: dict[str, Any], epic_field: str | None, points_field: str | None, extra: list[str] | None = None
    ) -> IssueSummary:
        """The common fields, plus any extra field the caller asked for (rich text as Markdown)."""
        values = raw.get("fields") or {}
        extras = {name: self._extra(name, values.get(name)) for name in extra or [] if name not in SUMMARY_FIELDS}
        return IssueSummary(**self._common(raw, epic_field, points_field), extra=extras)

    def _extra(self, name: str, value: Any) -> Any:
        if name in ("description", "environment"):
            text, _ = convert.truncate_markdown(self._to_markdown(value), 1000)
            return text
        if isinstance(value, dict):
            return value.get("displayName") or value.get("name") or value.get("value") or value
        return value

    def _common(self, raw: dict[str, Any], epic_field: str | None, points_field: str | None) -> dict[str, Any]:
        fields = raw.get("fields") or {}
        parent = fields.get("parent") or {}
        parent_type = ((parent.get("fields") or {}).get("issuetype") or {}).get("name", "")
        parent_is_epic = (
            parent_type == "Epic" or ((parent.get("fields") or {}).get("issuetype") or {}).get("hierarchyLevel") == 1
        )
        epic = parent.get("key") if parent_is_epic else (fields.get(epic_field) if epic_field else None)
        return {
            "key": raw["key"],
            "summary": fields.get("summary", ""),
            "type": (fields.get("issuetype") or {}).get("name", ""),
            "status": (fields.get("status") or {}).get("name", ""),
            "status_category": ((fields.get("status") or {}).get("statusCategory") or {}).get("name", ""),
            "priority": (fields.get("priority") or {}).get("name"),
            "assignee": _person(fields.get("assignee")),
            "created": fields.get("created"),
            "updated": fields.get("updated"),
            "resolution": (fields.get("resolution") or {}).get("name"),
            "labels": fields.get("labels") or [],
            "components": [c["name"] for c in fields.get("components") or []],
            "epic": epic,
            "parent": None if parent_is_epic else parent.get("key"),
            "story_points": fields.get(points_field) if points_field else None,
            "url": self.url(raw["key"]),
        }

    async def issue(self, key: str, comment_limit: int = 10, max_chars: int | None = None) -> Issue:
        limit = max_chars or self.max_body_chars
        epic_field, points_field = await self._custom_fields()
        raw = await self.http.get(self._path(f"issue/{key}"))
        fields = raw.get("fields") or {}
        description, cut = convert.truncate_markdown(self._to_markdown(fields.get("description")), limit)
        page = fields.get("comment") or {"comments": [], "total": 0}
        total = page.get("total", len(page.get("comments", [])))
        comments = page.get("comments", [])
        if comment_limit and total > len(comments):
            start = max(0, total - comment_limit)
            later = await self.http.get(
                self._path(f"issue/{key}/comment"), {"startAt": start, "maxResults": comment_limit}
            )
            comments = later.get("comments", [])
        comments = comments[-comment_limit:] if comment_limit else []
        return Issue(
            **self._common(raw, epic_field, points_field),
            reporter=_person(fields.get("reporter")),
            resolved=fields.get("resolutiondate"),
            description=description,
            description_truncated=cut,
            links=[_link(entry) for entry in fields.get("issuelinks") or []],
            comments=[self._comment(c, limit) for c in comments],
            comment_total=total,
        )

    def _comment(self, raw: dict[str, Any], max_chars: int) -> Comment:
        body, _ = convert.truncate_markdown(self._to_markdown(raw.get("body")), max_chars)
        visibility = raw.get("visibility") or {}
        return Comment(
            id=str(raw["id"]),
            author=_person(raw.get("author")) or "",
            created=raw.get("created", ""),
            body=body,
            restricted_to=visibility.get("value") or visibility.get("identifier"),
        )

    # --- writes ----------------------------------------------------------------------------------------

    async def create(
        self,
        project: str,
        issue_type: str,
        summary: str,
        description: str,
        labels: list[str] | None = None,
        priority: str | None = None,
        components: list[str] | None = None,
        epic: str | None = None,
        parent: str | None = None,
        fields: dict[str, Any] | None = None,
    ) -> Written:
        values: dict[str, Any] = {
            "project": {"key": project},
            "issuetype": {"name": issue_type},
            "summary": summary,
            "description": self._from_markdown(description),
        }
        if labels:
            values["labels"] = labels
        if priority:
            values["priority"] = {"name": priority}
        if components:
            values["components"] = [{"name": c} for c in components]
        if parent:
            values["parent"] = {"key": parent}
        if epic:
            values.update(await self._epic_value(epic))
        values.update(fields or {})
        created = await self.http.post(self._path("issue"), {"fields": values})
        key = created["key"]
        return Written(action="created", key=key, id=str(created["id"]), url=self.url(key), detail=f"created {key}")

    async def _epic_value(self, epic: str) -> dict[str, Any]:
        if self.cloud:
            return {"parent": {"key": epic}}
        field, _ = await self._custom_fields()
        if field is None:
            raise ToolInputError("this Data Center site has no 'Epic Link' field, so issues cannot be linked to epics")
        return {field: epic}

    async def update(
        self,
        key: str,
        summary: str | None = None,
        description: str | None = None,
        labels: list[str] | None = None,
        add_labels: list[str] | None = None,
        remove_labels: list[str] | None = None,
        priority: str | None = None,
        assignee: str | None = None,
        components: list[str] | None = None,
        fields: dict[str, Any] | None = None,
    ) -> Written:
        values: dict[str, Any] = {}
        if summary is not None:
            values["summary"] = summary
        if description is not None:
            values["description"] = self._from_markdown(description)
        if labels is not None:
            values["labels"] = labels
        if priority is not None:
            values["priority"] = {"name": priority}
        if components is not None:
            values["components"] = [{"name": c} for c in components]
        if assignee is not None:
            values["assignee"] = await self._user_reference(assignee)
        values.update(fields or {})
        verbs = [{"add": label} for label in add_labels or []] + [{"remove": label} for label in remove_labels or []]
        body: dict[str, Any] = {"fields": values}
        if verbs:
            body["update"] = {"labels": verbs}
        if not values and not verbs:
            raise ToolInputError("nothing to update: give at least one field to change")
        await self.http.put(self._path(f"issue/{key}"), body)
        changed = sorted(values) + (["labels"] if verbs else [])
        return Written(action="updated", key=key, url=self.url(key), detail=f"updated {key}: {', '.join(changed)}")

    async def _user_reference(self, who: str) -> dict[str, Any] | None:
        """An assignee by account id, username, email or name; "" unassigns."""
        if not who:
            return None
        params = {"query": who} if self.cloud else {"username": who}
        users = await self.http.get(self._path("user/search"), params)
        if not users:
            raise ToolInputError(f"no user matches '{who}'")
        user = users[0]
        return {"accountId": user["accountId"]} if self.cloud else {"name": user["name"]}

    async def comment(self, key: str, body: str) -> Written:
        created = await self.http.post(self._path(f"issue/{key}/comment"), {"body": self._from_markdown(body)})
        return Written(
            action="commented", key=key, id=str(created["id"]), url=self.url(key), detail=f"commented on {key}"
        )

    async def link(self, link_type: str, inward: str, outward: str) -> Written:
        name = await self._link_type_name(link_type)
        body = {"type": {"name": name}, "inwardIssue": {"key": inward}, "outwardIssue": {"key": outward}}
        await self.http.post(self._path("issueLink"), body)
        return Written(
            action="linked", key=inward, url=self.url(inward), detail=f"linked {inward} -> {outward} ({name})"
        )

    async def _link_type_name(self, wanted: str) -> str:
        """A link type by its name or either of its verbs ("Blocks", "blocks", "is blocked by"), any case."""
        types = (await self.http.get(self._path("issueLinkType")))["issueLinkTypes"]
        for link_type in types:
            if wanted.lower() in {link_type["name"].lower(), link_type["inward"].lower(), link_type["outward"].lower()}:
                return link_type["name"]
        names = ", ".join(t["name"] for t in types)
        raise ToolInputError(f"no link type '{wanted}'; this site has: {names}")

    async def link_to_epic(self, issue: str, epic: str) -> Written:
        await self.http.put(self._path(f"issue/{issue}"), {"fields": await self._epic_value(epic)})
        return Written(
            action="linked to epic", key=issue, url=self.url(issue), detail=f"{issue} is now under epic {epic}"
        )

    async def transition(self, key: str, status: str) -> Written:
        available = (await self.http.get(self._path(f"issue/{key}/transitions")))["transitions"]
        wanted = status.lower()
        match = next(
            (t for t in available if wanted in (t["to"]["name"].lower(), t["name"].lower())),
            None,
        )
        if match is None:
            names = ", ".join(sorted({t["to"]["name"] for t in available})) or "none"
            raise ToolInputError(f"{key} cannot move to '{status}' from its current status; it can move to: {names}")
        await self.http.post(self._path(f"issue/{key}/transitions"), {"transition": {"id": match["id"]}})
        target = match["to"]["name"]
        return Written(action="transitioned", key=key, url=self.url(key), detail=f"moved {key} to {target}")


def _person(user: dict[str, Any] | None) -> str | None:
    return None if not user else user.get("displayName") or user.get("name") or user.get("accountId")


def _link(entry: dict[str, Any]) -> Link:
    link_type = entry.get("type") or {}
    if "outwardIssue" in entry:
        other, relation = entry["outwardIssue"], link_type.get("outward", "")
    else:
        other, relation = entry.get("inwardIssue") or {}, link_type.get("inward", "")
    fields = other.get("fields") or {}
    return Link(
        relation=relation,
        key=other.get("key", ""),
        summary=fields.get("summary", ""),
        status=(fields.get("status") or {}).get("name", ""),
    )


def _encode_offset(offset: int) -> str:
    return base64.urlsafe_b64encode(f"start:{offset}".encode()).decode().rstrip("=")


def _decode_offset(token: str | None) -> int:
    """Data Center pages by offset; agentflow hands out an opaque token like Cloud's."""
    if not token:
        return 0
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        label, value = raw.split(":")
        if label != "start":
            raise ValueError
        return max(0, int(value))
    except ValueError:
        raise ToolInputError(f"'{token}' is not a page token from an earlier search_jira_issues result") from None
