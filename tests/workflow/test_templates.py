"""Rendering templated values, expressions and files, strictly and in the sandbox."""

import pytest

from agentflow.workflow.templates import (
    Scope,
    TemplateProblem,
    check_text,
    environment,
    evaluate,
    render_file,
    render_value,
)

CONTEXT = {"inputs": {"keys": ["PAY-1", "PAY-2"], "limit": 5, "alert": 'pool "db" exhausted'}, "steps": {}}


def test_a_single_expression_keeps_its_type():
    env = environment()
    assert render_value(env, "{{ inputs.keys }}", CONTEXT) == ["PAY-1", "PAY-2"]
    assert render_value(env, " {{ inputs.limit * 2 }} ", CONTEXT) == 10


def test_mixed_text_renders_to_a_string_and_containers_render_item_by_item():
    env = environment()
    value = {"jql": "key in ({{ inputs.keys | join(',') }})", "n": ["{{ inputs.limit }}", 3], "flag": True}
    assert render_value(env, value, CONTEXT) == {"jql": "key in (PAY-1,PAY-2)", "n": [5, 3], "flag": True}


def test_two_expressions_are_text_not_one_expression():
    assert render_value(environment(), "{{ inputs.limit }}-{{ inputs.limit }}", CONTEXT) == "5-5"


def test_quote_makes_a_safe_query_literal():
    rendered = render_value(environment(), "text ~ {{ inputs.alert | quote }}", CONTEXT)
    assert rendered == 'text ~ "pool \\"db\\" exhausted"'


def test_one_line_and_table_cell_keep_text_inside_its_markdown_construct():
    text = {"text": " a |  b\r\n\n# c\t"}
    assert render_value(environment(), "## {{ text | one_line }}", text) == "## a | b # c"
    assert render_value(environment(), "| {{ text | table_cell }} |", text) == "| a \\| b # c |"


@pytest.mark.parametrize(
    ("step", "rendered"),
    [
        ("Run:\n\n```sql\nSELECT 1;\n```", "1. Run:\n\n    ```sql\n    SELECT 1;\n    ```\n"),
        ("Run:\n~~~~\nopen and never closed", "1. Run:\n    ~~~~\n    open and never closed\n    ~~~~\n"),
        (
            "Page:\r\n- on call\n\n# not a heading of the report",
            "1. Page:\n    - on call\n\n    # not a heading of the report\n",
        ),
        ("  one line  ", "1. one line\n"),
        ("Run:\n```\n```python\nstill code", "1. Run:\n    ```\n    ```python\n    still code\n    ```\n"),
        ("Run:\n\n        ```indented code, not a fence", "1. Run:\n\n            ```indented code, not a fence\n"),
    ],
)
def test_list_item_keeps_a_steps_blocks_inside_its_item(step, rendered):
    template = "{% for s in steps %}{{ loop.index }}. {{ s | list_item }}\n{% endfor %}"
    assert render_value(environment(), template, {"steps": [step]}) == rendered


def test_undefined_names_are_errors_not_blanks():
    env = environment()
    with pytest.raises(TemplateProblem, match="'dict object' has no attribute 'nope'"):
        render_value(env, "{{ inputs.nope }}", CONTEXT)
    with pytest.raises(TemplateProblem, match="'missing' is undefined"):
        render_value(env, "a {{ missing }} b", CONTEXT)
    with pytest.raises(TemplateProblem, match="'missing' is undefined"):
        evaluate(env, "missing", CONTEXT)


def test_the_sandbox_blocks_reaching_into_python():
    with pytest.raises(TemplateProblem, match="template error"):
        render_value(environment(), "{{ inputs.__class__.__mro__ }}", CONTEXT)


def test_a_failing_python_call_in_a_template_is_a_template_problem_not_a_crash():
    for expression in ("{{ '{0}{1}'.format(1) }}", "{{ 10 ** 400 / 0.1 }}", "{{ 1 // 0 }}"):
        with pytest.raises(TemplateProblem, match="template error"):
            render_value(environment(), f"x {expression}", CONTEXT)


def test_render_file_errors_carry_the_template_line(tmp_path):
    (tmp_path / "p.md.j2").write_text("line one\nline two\n{{ inputs.nope }}\n")
    env = environment([tmp_path])
    with pytest.raises(TemplateProblem) as caught:
        render_file(env, "p.md.j2", CONTEXT)
    assert caught.value.line == 3
    assert caught.value.filename == str(tmp_path / "p.md.j2")


def test_render_file_renders_with_filters(tmp_path):
    (tmp_path / "p.md.j2").write_text(
        "{% for k in inputs.keys %}- {{ k }}\n{% endfor %}{{ inputs.keys | to_json(None) }}\n"
    )
    assert render_file(environment([tmp_path]), "p.md.j2", CONTEXT) == '- PAY-1\n- PAY-2\n["PAY-1", "PAY-2"]\n'


def test_static_checks_allow_locally_bound_names():
    scope = Scope(frozenset({"inputs"}), {"inputs": frozenset({"keys"})})
    text = "{% set n = 1 %}{% for k in inputs.keys %}{{ k }}{{ n }}{{ loop.index }}{% endfor %}"
    assert check_text(environment(), text, scope) == []


def test_a_template_that_is_not_text_or_recurses_for_ever_is_a_template_problem(tmp_path):
    from agentflow.workflow.templates import check_file

    (tmp_path / "binary.md.j2").write_bytes(b"# Report\n\xff\xfe\x00 not text")
    (tmp_path / "endless.md.j2").write_text("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}")
    env = environment([tmp_path])
    with pytest.raises(TemplateProblem, match=r"'binary.md.j2' cannot be read: it is not UTF-8 text \(byte 9\)"):
        render_file(env, "binary.md.j2", CONTEXT)
    assert "it is not UTF-8 text" in str(check_file(env, "binary.md.j2", Scope(roots=set(CONTEXT)))[""][0])
    with pytest.raises(TemplateProblem, match="recurses without end"):
        render_file(env, "endless.md.j2", CONTEXT)
