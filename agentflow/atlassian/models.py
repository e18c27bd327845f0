"""The bundled server's results as data: what tools return as `structured_content`, the same for every site.

Flavor differences (ADF vs wiki markup, `parent` vs "Epic Link", cursor vs offset paging) are resolved
before these are built, so gather steps and templates see one shape. Rich text is Markdown.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class _Model(BaseModel):
    model_config = {"frozen": True}


class Link(_Model):
    """A link from this issue: `relation` reads "this issue <relation> <key>" (e.g. "blocks", "duplicates")."""

    relation: str
    key: str
    summary: str = ""
    status: str = ""


class Comment(_Model):
    id: str
    author: str
    created: str
    body: str
    # Jira's `visibility`: the project role or group (its name) that alone may read the comment; None: everyone
    # who may see the issue. A report that leaves agentflow must not carry a restricted comment unasked.
    restricted_to: str | None = None


class IssueSummary(_Model):
    key: str
    summary: str
    type: str = ""
    status: str = ""
    status_category: str = ""
    priority: str | None = None
    assignee: str | None = None
    created: str | None = None
    updated: str | None = None
    resolution: str | None = None
    labels: list[str] = Field(default_factory=list)
    components: list[str] = Field(default_factory=list)
    epic: str | None = None
    parent: str | None = None
    story_points: float | None = None
    url: str = ""
    extra: dict[str, Any] = Field(default_factory=dict)  # fields asked for by name (`fields=[...]`)

    def _extra_without_restricted(self) -> tuple[dict[str, Any], int]:
        """`extra` with the restricted comments of a `comment` field asked for by name (Jira's page of comments,
        each restricted one carrying `visibility`) left out, and how many were."""
        page = self.extra.get("comment")
        if not isinstance(page, dict) or not isinstance(page.get("comments"), list):
            return self.extra, 0
        kept = [c for c in page["comments"] if not (isinstance(c, dict) and c.get("visibility"))]
        withheld = len(page["comments"]) - len(kept)
        total = page.get("total")
        shown = {**page, "comments": kept, **({"total": total - withheld} if isinstance(total, int) else {})}
        return {**self.extra, "comment": shown}, withheld


class Issue(IssueSummary):
    reporter: str | None = None
    resolved: str | None = None
    description: str = ""
    description_truncated: bool = False
    links: list[Link] = Field(default_factory=list)
    comments: list[Comment] = Field(default_factory=list)
    comment_total: int = 0
    comments_withheld: int = 0  # restricted comments left out by the server (see `without_restricted`)

    def without_restricted(self) -> Issue:
        """The issue without its restricted comments, counted in `comments_withheld` instead: for a run whose
        report goes where people outside the role or group read it (Slack, scheduled delivery)."""
        kept = [comment for comment in self.comments if comment.restricted_to is None]
        extra, in_extra = self._extra_without_restricted()
        withheld = len(self.comments) - len(kept)
        return self.model_copy(
            update={
                "comments": kept,
                "comment_total": self.comment_total - withheld,
                "comments_withheld": withheld + in_extra,
                "extra": extra,
            }
        )


class IssueSearch(_Model):
    jql: str
    issues: list[IssueSummary]
    total: int | None = None
    next_page_token: str | None = None

    def without_restricted(self) -> IssueSearch:
        """The search with the restricted comments of a `comment` field asked for by name left out (see
        `Issue.without_restricted`)."""
        issues = [issue.model_copy(update={"extra": issue._extra_without_restricted()[0]}) for issue in self.issues]
        return self.model_copy(update={"issues": issues})


class PageHit(_Model):
    id: str
    title: str
    space: str = ""
    url: str = ""
    excerpt: str = ""
    last_modified: str | None = None
    labels: list[str] = Field(default_factory=list)


class Page(_Model):
    id: str
    title: str
    space: str
    url: str
    version: int
    updated: str | None = None
    author: str | None = None
    labels: list[str] = Field(default_factory=list)
    ancestors: list[str] = Field(default_factory=list)
    body: str = ""
    body_truncated: bool = False


class PageSearch(_Model):
    cql: str
    pages: list[PageHit]
    total: int | None = None
    top_page: Page | None = None  # the first hit read in full, when the search was asked to include it


class ComponentRef(_Model):
    id: str
    name: str
    type: str = ""


class ComponentLink(_Model):
    name: str
    type: str
    url: str


class ComponentSummary(ComponentRef):
    description: str = ""
    owner_team: str | None = None


class Component(ComponentSummary):
    on_call: str | None = None
    labels: list[str] = Field(default_factory=list)
    links: list[ComponentLink] = Field(default_factory=list)
    depends_on: list[ComponentRef] = Field(default_factory=list)
    dependents: list[ComponentRef] = Field(default_factory=list)


class ComponentSearch(_Model):
    query: str
    components: list[ComponentSummary]


class Written(_Model):
    """What a write did: the object it created or changed, and a sentence saying so."""

    action: str
    key: str | None = None
    id: str | None = None
    url: str | None = None
    detail: str = ""
