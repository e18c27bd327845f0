"""An installed agentflow (a wheel, not a checkout) carries and finds the built-in workflows and prompts."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_carries_the_builtin_workflows_and_finds_them(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path / "dist")],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    [wheel] = (tmp_path / "dist").glob("agentflow-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path / "site")
    for workflow in ROOT.glob("workflows/*.yaml"):
        assert f"agentflow/_builtin/workflows/{workflow.name}" in names
    for prompt in ROOT.glob("prompts/*.j2"):
        assert f"agentflow/_builtin/prompts/{prompt.name}" in names

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    env.pop("AGENTFLOW_WORKFLOWS", None)
    listed = subprocess.run(
        [sys.executable, "-m", "agentflow", "list", "--json"], cwd=elsewhere, env=env, capture_output=True, text=True
    )
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert {row["name"] for row in rows} == {"bug-triage", "incident", "transcript-to-stories", "backlog-grooming"}
    assert {row["origin"] for row in rows} == {"built-in"}
    located = subprocess.run(
        [sys.executable, "-c", "import agentflow; print(agentflow.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
    )
    assert located.stdout.startswith(str(tmp_path / "site"))
