"""Checks across the workflow: tools, steps, templates, writes, output schema, prompt files."""

from agentflow.workflow.loader import load_file
from tests.workflow.helpers import problems_of

HEAD = """\
name: x
title: T
"""
TAIL = """\
agent:
  prompt: minimal.md.j2
output:
  schema: {type: object}
"""


def workflow(project, body: str, name: str = "x"):
    return project.workflow(name, HEAD.replace("x", name) + body + TAIL)


def test_the_name_must_match_the_file(project):
    path = project.workflow("other", HEAD + TAIL)
    assert problems_of(path) == [
        "workflows/other.yaml:1: name 'x' does not match the file name 'other.yaml' (expected 'other')"
    ]


def test_tools_must_exist_on_the_bundled_server_and_not_be_host_tools(project):
    path = workflow(project, "tools:\n  - get_jira_issue\n  - get_jira_issue\n  - submit_result\n  - get_jira_isue\n")
    problems = problems_of(path)
    assert problems[0] == "workflows/x.yaml:5: tool 'get_jira_issue' is listed twice"
    assert (
        problems[1]
        == "workflows/x.yaml:6: 'submit_result' is provided to every agent by agentflow; do not list it in 'tools'"
    )
    assert problems[2].startswith("workflows/x.yaml:7: unknown tool 'get_jira_isue'; did you mean 'get_jira_issue'?")


def test_tools_of_other_servers_are_not_checked_statically(project):
    loaded = load_file(workflow(project, "servers: [atlassian, github]\ntools: [get_jira_issue, list_pull_requests]\n"))
    assert loaded.workflow.tools == ["get_jira_issue", "list_pull_requests"]


def test_steps_call_allowlisted_read_tools_with_unique_ids(project):
    path = workflow(
        project,
        """\
tools: [get_jira_issue, add_jira_comment]
steps:
  - id: a
    tool: get_jira_issues
  - id: a
    tool: add_jira_comment
""",
    )
    assert problems_of(path) == [
        "workflows/x.yaml:6: step 'a' calls 'get_jira_issues', which is not in 'tools'; did you mean 'get_jira_issue'?",
        "workflows/x.yaml:7: step id 'a' is used twice",
        "workflows/x.yaml:8: step 'a' calls the write tool 'add_jira_comment'; gather steps may only read",
    ]


def test_step_templates_may_only_name_inputs_earlier_steps_and_item(project):
    path = workflow(
        project,
        """\
inputs:
  key: {type: jira_key}
  keys: {type: jira_keys}
tools: [get_jira_issue]
steps:
  - id: first
    tool: get_jira_issue
    args:
      key: "{{ inputs.kye }}"
      other: |
        plain line
        {{ steps.second.x }} {{ item }}
  - id: second
    tool: get_jira_issue
    foreach: inputs.keys
    when: inputs.key and steps.first
    args:
      key: "{{ item }}"
""",
    )
    assert problems_of(path) == [
        "workflows/x.yaml:11: steps[0].args.key: unknown input 'inputs.kye'; did you mean 'inputs.key'?",
        "workflows/x.yaml:14: steps[0].args.other: undefined variable 'item'",
        "workflows/x.yaml:14: steps[0].args.other: 'steps.second' is not available yet: it runs later",
    ]


def test_foreach_and_when_are_checked_as_expressions(project):
    path = workflow(
        project,
        """\
inputs:
  n: {type: integer, default: 3}
tools: [get_jira_issue]
steps:
  - id: a
    tool: get_jira_issue
    foreach: inputs.n
    when: "inputs.n =="
""",
    )
    assert problems_of(path) == [
        "workflows/x.yaml:9: foreach needs a list, but input 'n' is a single integer",
        "workflows/x.yaml:10: steps[0].when: expression syntax error: unexpected 'end of print statement'",
    ]


def test_input_declarations_must_be_coherent(project):
    path = workflow(
        project,
        """\
inputs:
  key: {type: jira_key, required: true, default: PAY-1}
  n: {type: integer, default: abc}
  e: {type: enum}
  b: {type: boolean, pattern: x}
  s: {type: string, choices: [a]}
  f: {type: file, default: notes.txt}
  k: {type: jira_key, default: not-a-key}
  ok: {type: enum, choices: [a, b], default: a}
""",
    )
    assert problems_of(path) == [
        "workflows/x.yaml:4: input 'key' is required, so it cannot have a default",
        "workflows/x.yaml:5: input 'n': default 'abc' is not an integer",
        "workflows/x.yaml:6: input 'e' is an enum but lists no 'choices'",
        "workflows/x.yaml:7: input 'b': 'pattern' only applies to jira_key, jira_keys, string (this is boolean)",
        "workflows/x.yaml:8: input 's': 'choices' only applies to type enum (this is string)",
        "workflows/x.yaml:9: input 'f': a file input cannot have a default",
        "workflows/x.yaml:10: input 'k': default 'not-a-key' is not a Jira issue key (expected something like PAY-429)",
    ]


def test_writes_policy_must_fit_the_tools(project):
    path = workflow(
        project,
        """\
tools: [get_jira_issue, add_jira_comment, create_jira_issue]
writes:
  mode: auto
  limits: {add_jira_comment: 5, get_jira_issue: 3, link_to_epic: 1}
""",
    )
    assert problems_of(path) == [
        "workflows/x.yaml:5: writes: auto needs a limit for every write tool; missing: create_jira_issue",
        "workflows/x.yaml:6: limit for 'get_jira_issue', which is a read tool; limits apply to writes",
        "workflows/x.yaml:6: limit for 'link_to_epic', which is not in 'tools'",
    ]


def test_writes_none_cannot_list_write_tools(project):
    path = workflow(project, "tools: [get_jira_issue, add_jira_comment]\nwrites: none\n")
    assert problems_of(path) == ["workflows/x.yaml:4: writes: none, but 'tools' lists write tools: add_jira_comment"]


def test_the_output_schema_must_be_a_valid_object_schema(project):
    bad = project.workflow(
        "bad",
        HEAD.replace("x", "bad")
        + "agent: {prompt: minimal.md.j2}\noutput:\n  schema:\n    type: object\n    minProperties: -1\n",
    )
    [problem] = problems_of(bad)
    assert problem.startswith("workflows/bad.yaml:7: output schema is not a valid JSON schema at minProperties")
    array = project.workflow(
        "arr", HEAD.replace("x", "arr") + "agent: {prompt: minimal.md.j2}\noutput:\n  schema: {type: array}\n"
    )
    assert problems_of(array) == [
        "workflows/arr.yaml:5: output schema must have 'type: object' "
        "(it is the input schema of the submit_result tool)"
    ]


def test_prompt_and_report_templates_must_exist_and_use_known_variables(project):
    project.prompt("p.md.j2", "Hello {{ inputs.key }}\n{% include 'part.md.j2' %}\n")
    project.prompt("part.md.j2", "{{ steps.nope }}\n{{ output }}\n")
    project.prompt("r.md.j2", "{{ output.x }}\n{% if %}\n")
    path = project.workflow(
        "x",
        """\
name: x
title: T
inputs:
  key: {type: jira_key}
agent:
  prompt: p.md.j2
output:
  schema: {type: object}
  report: r.md.j2
""",
    )
    problems = problems_of(path)
    assert problems == [
        "prompts/part.md.j2:1: unknown step 'steps.nope'",
        "prompts/part.md.j2:2: undefined variable 'output'",
        "prompts/r.md.j2:2: template syntax error: Expected an expression, got 'end of statement block'",
    ]


def test_a_missing_prompt_says_where_it_looked(project):
    path = project.workflow("x", HEAD + "agent: {prompt: nowhere.md.j2}\noutput: {schema: {type: object}}\n")
    [problem] = problems_of(path)
    assert problem.startswith("workflows/x.yaml:3: template 'nowhere.md.j2' not found (looked in ")
    assert "workflows/prompts" in problem and problem.endswith("prompts)")


def test_servers_are_named_as_the_config_names_them_hyphens_included(project):
    loaded = load_file(workflow(project, "servers: [rovo-token, Team_Atlassian]\ntools: [getJiraIssue]\n"))
    assert loaded.workflow.servers == ["rovo-token", "Team_Atlassian"]
    problems = problems_of(workflow(project, "servers: [-rovo]\ntools: [getJiraIssue]\n"))
    assert any("letters, digits, '_' and '-' (a server's name in the config)" in p for p in problems)
