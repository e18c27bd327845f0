"""Dependencies point down: the import contracts in pyproject.toml (import-linter) hold for the whole package."""

from __future__ import annotations

from pathlib import Path

import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parent.parent


def test_the_layer_contracts_hold(capsys: pytest.CaptureFixture[str]):
    code = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    assert code == 0, capsys.readouterr().out


def test_an_upward_import_breaks_a_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    config = tmp_path / ".importlinter"
    config.write_text(
        "[importlinter]\nroot_package = agentflow\n\n"
        "[importlinter:contract:demo]\nname = runs may not reach the changes package\ntype = forbidden\n"
        "source_modules = agentflow.runs\nforbidden_modules = agentflow.changes\n"
    )
    assert lint_imports(config_filename=str(config), no_cache=True, no_logo=True) != 0
    assert "agentflow.runs -> agentflow.changes.plan" in capsys.readouterr().out
