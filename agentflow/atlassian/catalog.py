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

SERVER_NAME = "atlassian"
