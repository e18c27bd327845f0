"""Finding workflows along the search path, loading by name or path, rendering their prompts."""

import pytest

from agentflow.errors import InputInvalid, WorkflowInvalid, WorkflowNotFound
from agentflow.workflow import loader

BUILTIN = {"bug-triage", "incident", "transcript-to-stories", "backlog-grooming"}


def test_the_builtin_workflows_are_always_found(project):
    assert set(loader.discover()) >= BUILTIN


def test_local_workflows_shadow_env_dirs_which_shadow_builtins(project, tmp_path_factory, monkeypatch):
    extra = tmp_path_factory.mktemp("team") / "workflows"
    extra.mkdir()
    (extra / "incident.yaml").write_text("name: incident\n")
    (extra / "team-only.yaml").write_text("name: team-only\n")
    monkeypatch.setenv("AGENTFLOW_WORKFLOWS", f"{extra}{loader.os.pathsep}/does/not/exist")
    project.workflow("team-only")
    found = loader.discover()
    assert found["team-only"] == project.root / "workflows" / "team-only.yaml"
    assert found["incident"] == extra / "incident.yaml"
    assert found["bug-triage"].parent == loader.builtin_dir()
    assert loader.search_path()[:2] == [project.root / "workflows", extra]


def test_an_unknown_name_lists_the_known_ones(project):
    with pytest.raises(WorkflowNotFound) as caught:
        loader.load("incdent")
    message = str(caught.value)
    assert message.startswith("unknown workflow 'incdent'; known workflows: backlog-grooming, bug-triage, incident")


def test_load_accepts_a_path(project):
    path = project.workflow("mine")
    assert loader.load(str(path)).workflow.name == "mine"
    assert loader.load("workflows/mine.yaml").path.name == "mine.yaml"
    with pytest.raises(WorkflowInvalid, match="no such workflow file"):
        loader.load("workflows/absent.yaml")


def test_prompts_may_live_inside_the_workflow_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "flows" / "prompts").mkdir(parents=True)
    (tmp_path / "flows" / "prompts" / "own.md.j2").write_text("own prompt")
    (tmp_path / "flows" / "own.yaml").write_text(
        "name: own\ntitle: T\nagent: {prompt: own.md.j2}\noutput: {schema: {type: object}}\n"
    )
    loaded = loader.load("flows/own.yaml")
    assert loaded.render_prompt({"inputs": {}, "steps": {}}) == "own prompt"


def test_render_prompt_is_strict_and_points_at_the_template_line(project):
    project.prompt("p.md.j2", "Keys: {{ inputs.keys | join(', ') }}\nIssue: {{ steps.issue.summary }}\n")
    project.workflow(
        "p",
        """\
        name: p
        title: T
        inputs:
          keys: {type: jira_keys, required: true}
        tools: [get_jira_issue]
        steps:
          - id: issue
            tool: get_jira_issue
            args: {key: "{{ inputs.keys[0] }}"}
        agent: {prompt: p.md.j2}
        output: {schema: {type: object}}
        """,
    )
    loaded = loader.load("p")
    inputs = loaded.coerce_inputs({"keys": "pay-1,PAY-2"})
    context = {"inputs": inputs, "steps": {"issue": {"summary": "NPE in serializer"}}}
    assert loaded.render_prompt(context) == "Keys: PAY-1, PAY-2\nIssue: NPE in serializer\n"
    assert loaded.render_value(loaded.workflow.steps[0].args, context) == {"key": "PAY-1"}
    with pytest.raises(WorkflowInvalid) as caught:
        loaded.render_prompt({"inputs": inputs, "steps": {"issue": {}}})
    assert [str(p) for p in caught.value.problems] == [
        "prompts/p.md.j2:2: undefined: 'dict object' has no attribute 'summary'"
    ]
    with pytest.raises(InputInvalid):
        loaded.coerce_inputs({})


def test_a_workflow_without_report_renders_no_report(project):
    loaded = loader.load_file(project.workflow("plain"))
    assert loaded.render_report({"inputs": {}, "steps": {}, "output": None}) is None
