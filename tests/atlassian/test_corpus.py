"""The shared corpus: the same content as ADF, storage XHTML and wiki markup gives the same Markdown.

tests/atlassian/corpus/README.md describes the layout and lists the formats a fixture leaves out, and why.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentflow.atlassian.convert import adf_to_markdown, storage_to_markdown, wiki_to_markdown

CORPUS = Path(__file__).parent / "corpus"
SCHEMA_PATH = Path(__file__).resolve().parents[3] / "shared" / "specs" / "adf-schema.v1.json"
READERS: dict[str, tuple[str, Callable[[str], str]]] = {
    "adf": (".adf.json", lambda text: adf_to_markdown(json.loads(text))),
    "storage": (".storage.xml", storage_to_markdown),
    "wiki": (".wiki.txt", wiki_to_markdown),
}
FIXTURES = sorted(path.name.removesuffix(".md") for path in CORPUS.glob("*.md") if path.name != "README.md")


def _excluded() -> set[tuple[str, str]]:
    rows = re.findall(
        r"^\| ([\w-]+) \| (adf|storage|wiki) \|", (CORPUS / "README.md").read_text(encoding="utf-8"), re.M
    )
    return set(rows)


def _read(name: str, suffix: str) -> str:
    return (CORPUS / f"{name}{suffix}").read_text(encoding="utf-8")


CASES = [
    pytest.param(name, flavor, id=f"{name}-{flavor}")
    for name in FIXTURES
    for flavor, (suffix, _reader) in READERS.items()
    if (CORPUS / f"{name}{suffix}").exists()
]


@pytest.mark.parametrize(("name", "flavor"), CASES)
def test_every_reader_gives_the_expected_markdown(name: str, flavor: str) -> None:
    suffix, reader = READERS[flavor]
    assert reader(_read(name, suffix)) == _read(name, ".md").rstrip("\n")


def test_every_missing_format_is_one_the_readme_explains() -> None:
    missing = {
        (name, flavor)
        for name in FIXTURES
        for flavor, (suffix, _reader) in READERS.items()
        if not (CORPUS / f"{name}{suffix}").exists()
    }
    assert missing == _excluded()


@pytest.fixture(scope="module")
def adf_validator() -> Any:
    if not SCHEMA_PATH.is_file():
        pytest.skip(f"ADF schema not found at {SCHEMA_PATH} (it lives in the shared specs checkout)")
    import jsonschema

    return jsonschema.Draft4Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


@pytest.mark.parametrize("name", [name for name in FIXTURES if (CORPUS / f"{name}.adf.json").exists()])
def test_adf_fixtures_are_valid_adf(name: str, adf_validator: Any) -> None:
    errors = [error.message[:200] for error in adf_validator.iter_errors(json.loads(_read(name, ".adf.json")))]
    assert not errors, errors
