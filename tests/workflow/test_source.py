import pytest

from agentflow.workflow.source import YamlError, dotted, parse


def test_parse_returns_data_and_the_line_of_every_key_and_item():
    data, source = parse("name: x\nsteps:\n  - id: a\n    tool: t\n  - id: b\n")
    assert data == {"name": "x", "steps": [{"id": "a", "tool": "t"}, {"id": "b"}]}
    assert source.line_for(("name",)) == 1
    assert source.line_for(("steps", 0)) == 3
    assert source.line_for(("steps", 0, "tool")) == 4
    assert source.line_for(("steps", 1, "id")) == 5


def test_a_missing_path_falls_back_to_its_nearest_ancestor():
    _, source = parse("a:\n  b:\n    c: 1\n")
    assert source.line_for(("a", "b", "missing")) == 2
    assert source.line_for(("nothing", "here")) == 1


def test_scalars_keep_yaml_types():
    data, _ = parse("i: 3\nb: yes\nf: 1.5\nn: null\ns: '3'\n")
    assert data == {"i": 3, "b": True, "f": 1.5, "n": None, "s": "3"}


def test_duplicate_keys_are_errors_with_both_lines():
    with pytest.raises(YamlError) as caught:
        parse("tools: []\nname: x\ntools: [a]\n")
    assert caught.value.line == 3
    assert "duplicate key 'tools' (first defined on line 1)" in caught.value.message


def test_syntax_errors_carry_the_line():
    with pytest.raises(YamlError) as caught:
        parse("name: x\nsteps:\n  - id: [unclosed\n")
    assert caught.value.line is not None and caught.value.line >= 3
    assert caught.value.message.startswith("YAML syntax error")


def test_block_scalar_text_starts_on_the_line_after_its_key():
    _, source = parse("a: plain\nb: |\n  first\n  second\n")
    assert source.text_line_for(("a",)) == 1
    assert source.text_line_for(("b",)) == 3


def test_anchors_and_merge_keys_resolve():
    data, _ = parse("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n")
    assert data["other"] == {"x": 1, "y": 2}


def test_empty_document_is_none():
    assert parse("")[0] is None


def test_dotted_paths_read_like_yaml():
    assert dotted(("steps", 0, "args", "key")) == "steps[0].args.key"
    assert dotted(()) == ""
