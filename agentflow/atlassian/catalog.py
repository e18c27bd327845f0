"""The names of the bundled server's tools, split by whether they read or write.

Tool names are API: workflows name them in their allowlists, and the server must register exactly these.
Writes never delete anything; the server has no delete tool. Each write tool's metadata (`WRITES`) says how
many requests it may make, how a reviewer reads the change, where agentflow's attribution goes and how an
interrupted apply finds what it made: staging and apply read it here, not from code of their own.
"""

from dataclasses import dataclass
from enum import StrEnum

READ_TOOLS = frozenset(
    {
        "search_jira_issues",
        "get_jira_issue",
        "search_confluence_pages",
        "get_confluence_page",
        "search_compass_components",
        "get_compass_component",
    }
)


class Lookup(StrEnum):
    """How apply finds a change on the site: before it would make it again (when it may already be made: an
    interrupted apply, a lost journal) and after it made it (to check that it persisted as intended)."""

    LABELLED_ISSUE = "labelled_issue"  # an issue with the run's label and the change's summary
    MARKED_COMMENT = "marked_comment"  # a comment on the issue that carries the change's generated-by note
    PAGE_TITLE = "page_title"  # a page with the title in the space
    ISSUE_STATUS = "issue_status"  # the issue is in the target status
    ISSUE_LINK = "issue_link"  # the inward issue links to the outward one
    EPIC = "epic"  # the issue is under the epic
    UPDATED_ISSUE = "updated_issue"  # the issue's fields as set; never looked for first: setting again is harmless


@dataclass(frozen=True)
class WriteTool:
    """What staging and apply need to know of one write tool, besides its input schema.

    `requests`: the most HTTP requests one call makes without retries (reserved whole before it starts).
    `target` / `summary`: how a reviewer reads the change, as `str.format` templates over its arguments
    (`summary` None: the arguments say, see `changes.plan.describe`). `labels_field`: the argument that gets
    agentflow's attribution labels; `note_field`: the Markdown argument that ends with the generated-by note;
    `excerpt`: the long text argument a summary shows only the first line of.
    """

    name: str
    requests: int
    target: str
    summary: str | None
    lookup: Lookup
    labels_field: str | None = None
    note_field: str | None = None
    excerpt: str | None = None


WRITES = {
    tool.name: tool
    for tool in (
        # Data Center looks up the Epic Link field's id before a create under an epic.
        WriteTool("create_jira_issue", 2, "project {project}", "new {issue_type}: {summary}",
                  Lookup.LABELLED_ISSUE, labels_field="labels", note_field="description"),
        WriteTool("update_jira_issue", 2, "{key}", None, Lookup.UPDATED_ISSUE),  # an assignee is looked up first
        WriteTool("add_jira_comment", 1, "{key}", "comment: {body}", Lookup.MARKED_COMMENT, note_field="body",
                  excerpt="body"),
        WriteTool("link_jira_issues", 2, "{inward}", "{inward} {link_type} {outward}",  # the link types first
                  Lookup.ISSUE_LINK),
        WriteTool("link_to_epic", 2, "{issue}", "put under epic {epic}", Lookup.EPIC),  # DC: the field list first
        WriteTool("transition_jira_issue", 2, "{key}", "move to {status}",  # the transitions on offer first
                  Lookup.ISSUE_STATUS),
        WriteTool("create_confluence_page", 1, "space {space}", "new page: {title}", Lookup.PAGE_TITLE,
                  note_field="body"),
    )
}  # fmt: skip
WRITE_TOOLS = frozenset(WRITES)
TOOL_NAMES = READ_TOOLS | WRITE_TOOLS

# The bundled server's name in workflows and the config (`servers: [atlassian]`): its one spelling.
SERVER_NAME = "atlassian"
