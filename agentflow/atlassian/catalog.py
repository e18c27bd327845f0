"""The names of the bundled server's tools, split by whether they read or write.

Tool names are API: workflows name them in their allowlists, and the server must register exactly these.
Writes never delete anything; the server has no delete tool.
"""

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

WRITE_TOOLS = frozenset(
    {
        "create_jira_issue",
        "update_jira_issue",
        "add_jira_comment",
        "link_jira_issues",
        "link_to_epic",
        "transition_jira_issue",
        "create_confluence_page",
    }
)

TOOL_NAMES = READ_TOOLS | WRITE_TOOLS

# The most HTTP requests one call of a write tool makes without retries (a lookup, then the write). The
# server reserves them all before it starts, so that a write is never cut off half-way for lack of budget.
WRITE_REQUESTS = {
    "create_jira_issue": 2,  # Data Center: the field list, for the Epic Link field's id; then the create
    "update_jira_issue": 2,  # the assignee's user search; then the update
    "add_jira_comment": 1,
    "link_jira_issues": 2,  # the link types; then the link
    "link_to_epic": 2,  # Data Center: the field list; then the update
    "transition_jira_issue": 2,  # the transitions on offer; then the transition
    "create_confluence_page": 1,
}

SERVER_NAME = "atlassian"
