"""The schema on its own: types, allowed words, unknown keys, shorthands — each error with its line."""

from agentflow.workflow.loader import load_file
from tests.workflow.helpers import problems_of


def test_a_minimal_workflow_gets_sensible_defaults(project):
    workflow = load_file(project.workflow("minimal")).workflow
    assert workflow.servers == ["atlassian"]
    assert workflow.writes.mode == "staged"
    assert workflow.budget.priority == "interactive"
    assert workflow.agent.max_turns > 0 and workflow.agent.max_tool_calls > 0
    assert workflow.schedule is None


def test_an_unknown_key_is_an_error_with_a_suggestion(project):
    path = project.workflow(
        "x",
        """\
        name: x
        title: T
        tool: [get_jira_issue]
        agent: {prompt: minimal.md.j2}
        output: {schema: {type: object}}
        """,
    )
    assert problems_of(path) == ["workflows/x.yaml:3: unknown key 'tool'; did you mean 'tools'?"]


def test_an_unknown_nested_key_without_a_close_match_lists_the_allowed_keys(project):
    path = project.workflow(
        "x",
        """\
        name: x
        title: T
        agent:
          prompt: minimal.md.j2
          temperature: 0.2
        output: {schema: {type: object}}
        """,
    )
    [problem] = problems_of(path)
    assert problem.startswith("workflows/x.yaml:5: unknown key 'temperature' (allowed here: prompt, max_turns,")


def test_missing_required_keys_point_at_their_parent(project):
    path = project.workflow(
        "x",
        """\
        name: x
        agent:
          max_turns: 3
        output: {schema: {type: object}}
        """,
    )
    assert problems_of(path) == [
        "workflows/x.yaml:1: missing required key 'title'",
        "workflows/x.yaml:2: missing required key 'prompt' in agent",
    ]


def test_every_schema_problem_is_reported_at_once_in_line_order(project):
    path = project.workflow(
        "x",
        """\
        name: x
        title: T
        inputs:
          key: {type: jira_kee}
          Bad-Name: {type: string}
        agent: {prompt: minimal.md.j2, max_turns: 0}
        output: {schema: {type: object}}
        budget: {priority: urgent, max_calls: many}
        """,
    )
    assert problems_of(path) == [
        "workflows/x.yaml:4: inputs.key.type: 'jira_kee' is not allowed; expected 'string', 'integer', "
        "'boolean', 'enum', 'file', 'jira_key' or 'jira_keys'; did you mean 'jira_key'?",
        "workflows/x.yaml:5: inputs.Bad-Name: 'Bad-Name' is not a valid name "
        "(use lower-case letters, digits and underscores, not starting with a digit)",
        "workflows/x.yaml:6: agent.max_turns: should be greater than 0",
        "workflows/x.yaml:8: budget.max_calls: should be a valid integer, unable to parse string as an integer, "
        "got 'many'",
        "workflows/x.yaml:8: budget.priority: 'urgent' is not allowed; expected 'interactive' or 'batch'",
    ]


def test_workflow_names_are_lower_case_with_hyphens(project):
    path = project.workflow("Bad_Name", MINIMAL.replace("NAME", "Bad_Name"))
    [problem] = problems_of(path)
    assert "name: 'Bad_Name' is not a valid value (use lower-case letters, digits and hyphens" in problem


def test_writes_and_schedule_accept_a_shorthand(project):
    text = MINIMAL.replace("NAME", "x") + "writes: none\nschedule: '0 7 * * 1-5'\n"
    workflow = load_file(project.workflow("x", text)).workflow
    assert workflow.writes.mode == "none" and workflow.writes.limits == {}
    assert workflow.schedule.cron == "0 7 * * 1-5" and workflow.schedule.timezone == "UTC"


def test_a_bad_cron_expression_or_time_zone_is_rejected(project):
    text = MINIMAL.replace("NAME", "x") + "schedule:\n  cron: '0 25 * * *'\n  timezone: Mars/Olympus\n"
    assert problems_of(project.workflow("x", text)) == [
        "workflows/x.yaml:8: schedule.cron: '0 25 * * *' is not a five-field cron expression "
        "(minute hour day month weekday)",
        "workflows/x.yaml:9: schedule.timezone: unknown time zone 'Mars/Olympus' "
        "(use an IANA name such as 'Europe/Berlin')",
    ]


def test_a_bad_pattern_is_rejected(project):
    text = MINIMAL.replace("NAME", "x") + "inputs:\n  q:\n    pattern: '[unclosed'\n"
    [problem] = problems_of(project.workflow("x", text))
    assert problem.startswith("workflows/x.yaml:9: inputs.q.pattern: not a valid regular expression")


def test_a_file_that_is_not_a_mapping_is_rejected(project):
    assert problems_of(project.workflow("x", "- just\n- a list\n")) == [
        "workflows/x.yaml:1: a workflow file must be a YAML mapping (name: ..., title: ..., agent: ..., output: ...)"
    ]


def test_yaml_syntax_errors_and_duplicate_keys_have_lines(project):
    [problem] = problems_of(project.workflow("x", "name: x\ntitle: T\ntitle: U\n"))
    assert problem == "workflows/x.yaml:3: duplicate key 'title' (first defined on line 2)"
    [problem] = problems_of(project.workflow("y", "name: y\ntitle: 'unclosed\n"))
    assert problem.startswith("workflows/y.yaml:") and "YAML syntax error" in problem


MINIMAL = """\
name: NAME
title: T
agent:
  prompt: minimal.md.j2
output:
  schema: {type: object}
"""
