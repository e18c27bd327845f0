"""Coercion of every input type from text, and the problems a user sees for bad values."""

import pytest

from agentflow.errors import InputInvalid
from agentflow.workflow.inputs import MAX_FILE_BYTES, FileInput, coerce, coerce_inputs
from agentflow.workflow.schema import InputSpec, Workflow


@pytest.mark.parametrize(
    ("spec", "raw", "expected"),
    [
        ({"type": "string"}, "DB pool exhausted", "DB pool exhausted"),
        ({"type": "string", "pattern": "-[0-9]+[mhdw]"}, "-24h", "-24h"),
        ({"type": "integer"}, "60", 60),
        ({"type": "integer"}, " -3 ", -3),
        ({"type": "integer"}, "1_000", 1000),
        ({"type": "integer"}, 7, 7),
        ({"type": "boolean"}, "yes", True),
        ({"type": "boolean"}, "OFF", False),
        ({"type": "boolean"}, False, False),
        ({"type": "enum", "choices": ["low", "high"]}, "high", "high"),
        ({"type": "jira_key"}, "PAY-429", "PAY-429"),
        ({"type": "jira_key"}, " pay-429 ", "PAY-429"),
        ({"type": "jira_keys"}, "PAY-429,PAY-431", ["PAY-429", "PAY-431"]),
        ({"type": "jira_keys"}, "PAY-429 pay-431; PAY-429", ["PAY-429", "PAY-431"]),
        ({"type": "jira_keys"}, ["OPS-1"], ["OPS-1"]),
        ({"type": "jira_keys", "pattern": "PAY-[0-9]+"}, "PAY-1,PAY-2", ["PAY-1", "PAY-2"]),
    ],
)
def test_values_are_coerced_to_their_type(spec, raw, expected):
    assert coerce(InputSpec(**spec), raw) == expected


@pytest.mark.parametrize(
    ("spec", "raw", "message"),
    [
        ({"type": "string", "pattern": "-[0-9]+[mhdw]"}, "24h", "'24h' does not match the pattern -[0-9]+[mhdw]"),
        ({"type": "string"}, ["a"], "expected text, got list"),
        ({"type": "integer"}, "sixty", "'sixty' is not an integer"),
        ({"type": "integer"}, "1.5", "'1.5' is not an integer"),
        ({"type": "integer"}, True, "expected an integer, got True"),
        ({"type": "boolean"}, "maybe", "'maybe' is not a boolean (use true or false)"),
        ({"type": "enum", "choices": ["low", "high"]}, "hgh", "'hgh' is not one of low, high; did you mean 'high'?"),
        ({"type": "jira_key"}, "PAY429", "'PAY429' is not a Jira issue key (expected something like PAY-429)"),
        ({"type": "jira_key"}, "P-1", "'P-1' is not a Jira issue key (expected something like PAY-429)"),
        ({"type": "jira_keys"}, " , ", "expected one or more Jira issue keys, such as PAY-429,PAY-431"),
        ({"type": "jira_keys"}, "PAY-1,oops", "'oops' is not a Jira issue key (expected something like PAY-429)"),
        (
            {"type": "jira_keys", "pattern": "PAY-[0-9]+"},
            "PAY-1,OPS-2",
            "'OPS-2' does not match the pattern PAY-[0-9]+",
        ),
        ({"type": "file"}, "missing.txt", "no such file: missing.txt"),
    ],
)
def test_bad_values_are_rejected_with_a_clear_reason(spec, raw, message, tmp_path):
    with pytest.raises(ValueError) as caught:
        coerce(InputSpec(**spec), raw, base_dir=tmp_path)
    assert str(caught.value) == message


def test_a_file_input_reads_utf8_text_relative_to_the_base_dir(tmp_path):
    (tmp_path / "t.md").write_text("Customer: we need SSO ✓\n", encoding="utf-8")
    value = coerce(InputSpec(type="file"), "t.md", base_dir=tmp_path)
    assert value == FileInput(path=str(tmp_path / "t.md"), name="t.md", text="Customer: we need SSO ✓\n")
    assert str(value) == value.text


def test_a_file_input_refuses_binary_and_oversized_files(tmp_path):
    (tmp_path / "b.bin").write_bytes(b"\xff\xfe\x00")
    (tmp_path / "big.txt").write_bytes(b"a" * (MAX_FILE_BYTES + 1))
    with pytest.raises(ValueError, match=r"b\.bin is not UTF-8 text"):
        coerce(InputSpec(type="file"), "b.bin", base_dir=tmp_path)
    with pytest.raises(ValueError, match=r"big\.txt is 2048 KiB; the limit is 2048 KiB"):
        coerce(InputSpec(type="file"), "big.txt", base_dir=tmp_path)


WORKFLOW = Workflow.model_validate(
    {
        "name": "incident",
        "title": "T",
        "inputs": {
            "alert": {"type": "string", "required": True, "description": "The alert text"},
            "window": {"type": "string", "default": "-24h", "pattern": "-[0-9]+[mhdw]"},
            "limit": {"type": "integer", "default": 5},
            "level": {"type": "enum", "choices": ["p1", "p2"], "required": True},
        },
        "agent": {"prompt": "p"},
        "output": {"schema": {"type": "object"}},
    }
)


def test_coerce_inputs_fills_defaults_and_types_values():
    values = coerce_inputs(WORKFLOW, {"alert": "DB pool exhausted", "limit": "10", "level": "p1"})
    assert values == {"alert": "DB pool exhausted", "window": "-24h", "limit": 10, "level": "p1"}


def test_coerce_inputs_reports_every_problem_at_once():
    with pytest.raises(InputInvalid) as caught:
        coerce_inputs(WORKFLOW, {"alrt": "x", "window": "yesterday", "limit": "ten"})
    assert [str(p) for p in caught.value.problems] == [
        "incident: unknown input 'alrt'; did you mean 'alert'? (inputs: alert, window, limit, level)",
        "incident: missing required input 'alert' (string: The alert text)",
        "incident: input 'window': 'yesterday' does not match the pattern -[0-9]+[mhdw]",
        "incident: input 'limit': 'ten' is not an integer",
        "incident: missing required input 'level' (one of p1, p2)",
    ]
