"""Compact Markdown for the model: every fact a result holds, in as few tokens as reads clearly.

One line of metadata per object instead of JSON, dates to the minute, empty fields left out, and a note
wherever something was cut that says how to get the rest.
"""

from __future__ import annotations

from collections.abc import Iterable

from agentflow.atlassian.models import (
    Component,
    ComponentSearch,
    Issue,
    IssueSearch,
    IssueSummary,
    Page,
    PageSearch,
    Written,
)


def when(stamp: str | None) -> str:
    """`2026-11-26T08:06:15.000+0000` -> `2026-11-26 08:06`."""
    return stamp[:16].replace("T", " ") if stamp else ""


def _join(parts: Iterable[str | None], separator: str = " · ") -> str:
    return separator.join(p for p in parts if p)


def _issue_meta(issue: IssueSummary) -> str:
    return _join(
        [
            issue.type,
            issue.status + (f" ({issue.resolution})" if issue.resolution else ""),
            issue.priority,
            f"assignee {issue.assignee}" if issue.assignee else "unassigned",
            f"{issue.story_points:g} pts" if issue.story_points is not None else None,
        ]
    )


def issue_line(issue: IssueSummary) -> str:
    extras = _join(
        [
            f"labels {', '.join(issue.labels)}" if issue.labels else None,
            f"components {', '.join(issue.components)}" if issue.components else None,
            f"epic {issue.epic}" if issue.epic else None,
            f"updated {when(issue.updated)}" if issue.updated else None,
            *(f"{name}: {_brief(value)}" for name, value in issue.extra.items()),
        ],
        "; ",
    )
    return f"- **{issue.key}** {issue.summary} [{_issue_meta(issue)}]" + (f" ({extras})" if extras else "")


def _brief(value: object) -> str:
    text = " ".join(str(value).split()) if value not in (None, "") else "(empty)"
    return text if len(text) <= 120 else text[:117] + "..."


def issue_search(result: IssueSearch) -> str:
    if not result.issues:
        return f"No issues match `{result.jql}`."
    count = f"{len(result.issues)} of {result.total}" if result.total is not None else str(len(result.issues))
    lines = [f"{count} issues for `{result.jql}`:", *map(issue_line, result.issues)]
    if result.next_page_token:
        lines.append(f'More: call again with page_token="{result.next_page_token}".')
    return "\n".join(lines)


def issue(result: Issue, max_chars: int) -> str:
    lines = [
        f"# {result.key}: {result.summary}",
        _issue_meta(result),
        _join(
            [
                f"reporter {result.reporter}" if result.reporter else None,
                f"created {when(result.created)}",
                f"updated {when(result.updated)}",
                f"resolved {when(result.resolved)}" if result.resolved else None,
            ]
        ),
    ]
    details = _join(
        [
            f"labels: {', '.join(result.labels)}" if result.labels else None,
            f"components: {', '.join(result.components)}" if result.components else None,
            f"epic: {result.epic}" if result.epic else None,
            f"parent: {result.parent}" if result.parent else None,
        ]
    )
    if details:
        lines.append(details)
    lines.append(result.url)
    if result.links:
        lines.append("Links: " + "; ".join(f"{link.relation} {link.key} ({link.status})" for link in result.links))
    lines += ["", "## Description", result.description or "(none)"]
    if result.description_truncated:
        lines.append(f"[description cut at {max_chars} characters; call get_jira_issue with a larger max_chars]")
    if result.comment_total:
        lines += ["", f"## Comments ({len(result.comments)} of {result.comment_total}, newest last)"]
        for comment in result.comments:
            restricted = f" (visible to {comment.restricted_to} only)" if comment.restricted_to else ""
            lines += [f"**{comment.author}** {when(comment.created)}{restricted}:", comment.body, ""]
        if len(result.comments) < result.comment_total:
            lines.append("[older comments left out; call get_jira_issue with a larger comment_limit]")
    if result.comments_withheld:
        lines.append(
            f"[{result.comments_withheld} comment(s) restricted to a project role or group withheld: this run's "
            "report goes to people outside it]"
        )
    return "\n".join(lines).rstrip() + "\n"


def page_search(result: PageSearch, max_chars: int) -> str:
    """The hits, then the best match in full when the search included it (`max_chars`: where its body was cut)."""
    if not result.pages:
        return f"No pages match `{result.cql}`."
    lines = [f"{len(result.pages)} pages for `{result.cql}`:"]
    for hit in result.pages:
        head = f"- **{hit.title}** (id {hit.id}, space {hit.space}, modified {when(hit.last_modified)})"
        lines.append(head + (f": {hit.excerpt}" if hit.excerpt else ""))
    if result.top_page is not None:
        lines += ["", "The best match in full:", "", page(result.top_page, max_chars)]
    return "\n".join(lines)


def page(result: Page, max_chars: int) -> str:
    lines = [
        f"# {result.title}",
        _join(
            [
                f"space {result.space}",
                f"id {result.id}",
                f"version {result.version}",
                f"updated {when(result.updated)}" if result.updated else None,
                f"by {result.author}" if result.author else None,
                f"labels {', '.join(result.labels)}" if result.labels else None,
            ]
        ),
    ]
    if result.ancestors:
        lines.append("In: " + " > ".join(result.ancestors))
    lines += [result.url, "", result.body or "(empty page)"]
    if result.body_truncated:
        lines.append(f"[page cut at {max_chars} characters; call get_confluence_page with a larger max_chars]")
    return "\n".join(lines).rstrip() + "\n"


def component_search(result: ComponentSearch) -> str:
    if not result.components:
        return f"No Compass components match '{result.query}'."
    lines = [f"{len(result.components)} components for '{result.query}':"]
    for component in result.components:
        owner = f", owner {component.owner_team}" if component.owner_team else ""
        about = f": {component.description}" if component.description else ""
        lines.append(f"- **{component.name}** ({component.type}{owner}, id {component.id}){about}")
    return "\n".join(lines)


def component(result: Component) -> str:
    lines = [f"# {result.name} ({result.type})", result.description or ""]
    lines.append(
        _join(
            [
                f"owner team {result.owner_team}" if result.owner_team else "no owner team",
                f"on call {result.on_call}" if result.on_call else None,
                f"labels {', '.join(result.labels)}" if result.labels else None,
            ]
        )
    )
    lines.append("Depends on: " + (", ".join(c.name for c in result.depends_on) or "nothing recorded"))
    lines.append("Depended on by: " + (", ".join(c.name for c in result.dependents) or "nothing recorded"))
    for link in result.links:
        lines.append(f"- {link.type.lower()}: [{link.name}]({link.url})")
    lines.append(f"id {result.id}")
    return "\n".join(line for line in lines if line) + "\n"


def written(result: Written) -> str:
    return result.detail + (f" ({result.url})" if result.url else "")
