"""The built-in workflows validate, and their prompts and reports render with and without a model's answer."""

from datetime import UTC, datetime

import pytest
from jsonschema import Draft202012Validator

from agentflow.atlassian import catalog
from agentflow.workflow import loader

INPUTS = {
    "bug-triage": {"keys": "PAY-429,PAY-431"},
    "incident": {"alert": "Database connection pool exhausted", "service": "payment-gateway"},
    "transcript-to-stories": {"transcript": "interview.md", "epic": "PROD-100"},
    "backlog-grooming": {"project": "PROD", "space": "PROD"},
}


def example(schema: dict):
    """The smallest instance of a JSON schema that fills every property, for rendering reports."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {key: example(sub) for key, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [example(schema.get("items", {})) for _ in range(max(1, schema.get("minItems", 1)))]
    return {"integer": 1, "number": 1.5, "boolean": True}.get(kind, "EXAMPLE-TEXT")


@pytest.fixture
def builtin(tmp_path, monkeypatch):
    """Load a built-in workflow by name from an empty working directory."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "interview.md").write_text("PM: What slows you down?\nCustomer: Exports take forever.\n")
    return loader.load


def test_the_four_builtin_workflows_exist_and_validate(builtin):
    names = {name for name, path in loader.discover().items() if path.parent == loader.builtin_dir()}
    assert names == set(INPUTS)
    for name in names:
        loaded = builtin(name)
        assert loaded.workflow.name == name
        assert set(loaded.workflow.tools) <= catalog.TOOL_NAMES


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_report_renders_a_schema_valid_answer(builtin, name):
    loaded = builtin(name)
    schema = loaded.workflow.output.json_schema
    output = example(schema)
    Draft202012Validator(schema).validate(output)
    steps = {step.id: {} for step in loaded.workflow.steps}
    context = {"inputs": loaded.coerce_inputs(INPUTS[name]), "steps": steps, "workflow": loaded.workflow}
    report = loaded.render_report({**context, "now": datetime(2026, 11, 26, tzinfo=UTC), "output": output})
    assert "EXAMPLE-TEXT" in report and "No model ran" not in report
