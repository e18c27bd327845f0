"""The toolbox: only allowlisted tools, under names a model API accepts, unambiguous, never shadowing the host's."""

from __future__ import annotations

import re

import pytest

from agentflow.errors import ConfigError
from agentflow.host.servers import HostTool
from agentflow.host.toolbox import build_toolbox

SAFE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
RESERVED = ("update_plan", "submit_result")


def tool(server: str, name: str, read_only: bool | None = None) -> HostTool:
    schema = {"type": "object", "properties": {"q": {"type": "string"}}}
    description = f"{name} on {server}"
    return HostTool(server=server, name=name, description=description, input_schema=schema, read_only=read_only)


ATLASSIAN = [
    tool("atlassian", "search_jira_issues", read_only=True),
    tool("atlassian", "get_jira_issue", read_only=True),
    tool("atlassian", "add_jira_comment", read_only=False),
]
GIT = [tool("git", "git_log"), tool("git", "search_jira_issues", read_only=True)]


def names(toolbox) -> list[str]:
    return [spec.name for spec in toolbox.specs()]


def test_the_model_sees_only_allowlisted_tools_in_allowlist_order():
    toolbox = build_toolbox(ATLASSIAN, ["get_jira_issue", "search_jira_issues", "get_jira_issue"])
    assert names(toolbox) == ["get_jira_issue", "search_jira_issues"]
    spec = toolbox.specs()[0]
    assert spec.description == "get_jira_issue on atlassian" and spec.input_schema["type"] == "object"
    assert toolbox.resolve("get_jira_issue") == ATLASSIAN[1]
    with pytest.raises(KeyError, match="no tool 'add_jira_comment'"):
        toolbox.resolve("add_jira_comment")


def test_same_name_on_two_servers_is_namespaced_and_a_plain_entry_is_ambiguous():
    toolbox = build_toolbox(ATLASSIAN + GIT, ["atlassian.search_jira_issues", "git__search_jira_issues", "git_log"])
    assert names(toolbox) == ["atlassian__search_jira_issues", "git__search_jira_issues", "git_log"]
    assert toolbox.resolve("git__search_jira_issues").server == "git"
    with pytest.raises(ConfigError) as caught:
        build_toolbox(ATLASSIAN + GIT, ["search_jira_issues"])
    message = str(caught.value)
    assert "'search_jira_issues' is offered by more than one server (atlassian, git)" in message
    assert "'atlassian.search_jira_issues' or 'git.search_jira_issues'" in message


def test_a_name_only_one_allowed_tool_has_stays_plain():
    toolbox = build_toolbox(ATLASSIAN + GIT, ["git.search_jira_issues"])
    assert names(toolbox) == ["search_jira_issues"] and toolbox.resolve("search_jira_issues").server == "git"


def test_unknown_entries_are_all_reported_with_suggestions_and_the_offer():
    with pytest.raises(ConfigError) as caught:
        build_toolbox(ATLASSIAN + GIT, ["serch_jira_issues", "get_jira_issue", "delete_everything", "git.gitlog"])
    message = str(caught.value)
    assert "no server offers a tool 'serch_jira_issues' (did you mean 'search_jira_issues'" in message
    assert "no server offers a tool 'delete_everything'" in message and "'delete_everything' (" not in message
    assert "'git.gitlog' (did you mean 'git.git_log'" in message
    assert "atlassian: add_jira_comment, get_jira_issue, search_jira_issues" in message
    assert "git: git_log, search_jira_issues" in message


def test_names_are_made_safe_short_and_unique():
    odd = [
        tool("web", "fetch.url"),
        tool("web", "fetch_url"),
        tool("web", "résumé/parse"),
        tool("web", "x" * 80),
        tool("web", "x" * 80 + "y"),
    ]
    toolbox = build_toolbox(odd, [t.name for t in odd])
    exposed = names(toolbox)
    assert all(SAFE.match(name) for name in exposed) and len(set(exposed)) == len(exposed)
    assert exposed[2] == "r_sum__parse"
    assert [toolbox.resolve(name).name for name in exposed] == [t.name for t in odd]
    assert names(build_toolbox(odd, [t.name for t in odd])) == exposed  # the same from run to run


def test_the_hosts_own_tool_names_are_never_shadowed():
    mine = [tool("planner", "update_plan"), tool("planner", "submit_result"), tool("planner", "plan")]
    toolbox = build_toolbox(mine, ["update_plan", "submit_result", "plan"], reserved=RESERVED)
    assert names(toolbox) == ["planner__update_plan", "planner__submit_result", "plan"]


def test_a_namespaced_name_meeting_another_servers_own_name_is_made_unique():
    tools = [tool("a", "x"), tool("b", "x"), tool("c", "a__x")]
    toolbox = build_toolbox(tools, ["a.x", "b.x", "c.a__x"])
    exposed = names(toolbox)
    assert len(set(exposed)) == 3 and exposed[1] == "b__x" and all(SAFE.match(name) for name in exposed)
    assert [(toolbox.resolve(name).server, toolbox.resolve(name).name) for name in exposed] == [
        ("a", "x"),
        ("b", "x"),
        ("c", "a__x"),
    ]


def test_workflow_steps_name_tools_as_the_allowlist_does():
    toolbox = build_toolbox(ATLASSIAN + GIT, ["atlassian.search_jira_issues", "git.search_jira_issues", "git_log"])
    assert toolbox.by_tool_name("git_log").server == "git"
    assert toolbox.by_tool_name("git.search_jira_issues").server == "git"
    assert toolbox.by_tool_name("atlassian__search_jira_issues").server == "atlassian"
    with pytest.raises(ConfigError, match="offered by more than one server"):
        toolbox.by_tool_name("search_jira_issues")
    with pytest.raises(ConfigError, match="'get_jira_issue' is not in the workflow's tools"):
        toolbox.by_tool_name("get_jira_issue")
