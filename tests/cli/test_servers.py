"""`agentflow sandbox` and `agentflow mcp`: serving real ports, resetting the database, refusing bad options."""

import json
import os
import selectors
import subprocess
import sys

import httpx2
from typer.testing import CliRunner

from agentflow.cli import app
from tests.conftest import SLOW_MACHINE_SECONDS

runner = CliRunner()


def test_serve_prints_one_json_line_then_answers_on_its_port(tmp_path):
    env = {**os.environ, "AGENTFLOW_STATE_DIR": str(tmp_path)}
    command = [sys.executable, "-m", "agentflow", "sandbox", "serve", "--port", "0", "--flavor", "dc", "--json"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True) as server:
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(server.stdout, selectors.EVENT_READ)
                assert selector.select(timeout=SLOW_MACHINE_SECONDS), "the sandbox printed nothing"
            info = json.loads(server.stdout.readline())
            assert info["flavor"] == "dc" and info["db"] == str(tmp_path / "sandbox.db")
            sre = next(user for user in info["users"] if user["username"] == "sre")
            assert info["env"]["JIRA_PERSONAL_TOKEN"] == sre["token"]
            headers = {"Authorization": f"Bearer {sre['token']}"}
            server_info = httpx2.get(info["url"] + "/rest/api/2/serverInfo", timeout=SLOW_MACHINE_SECONDS).json()
            assert server_info["deploymentType"] == "Server"
            me = httpx2.get(info["url"] + "/rest/api/2/myself", headers=headers, timeout=SLOW_MACHINE_SECONDS).json()
            assert me["name"] == "sre"
        finally:
            server.terminate()
            server.wait(timeout=SLOW_MACHINE_SECONDS)


def test_reset_seeds_a_fresh_database(tmp_path):
    db = tmp_path / "site.db"
    result = runner.invoke(app, ["sandbox", "reset", "--db", str(db)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"sandbox reset: {db} (")
    assert "issues" in result.stdout and db.exists()
    scaled = runner.invoke(app, ["sandbox", "reset", "--db", str(db), "--flavor", "dc", "--scale", "300"])
    assert scaled.exit_code == 0, scaled.stderr
    from agentflow.sandbox.site import Site

    site = Site.open("dc", db)
    assert site.store.query_one("SELECT COUNT(*) FROM issues")[0] >= 300 + 20  # the seed and the generated ones


def test_bad_options_exit_2_with_a_reason(tmp_path):
    for option, message in [
        (["--rate-limit", "lots"], "rate limit must look like 500/h, not 'lots'"),
        (["--faults", "418=1"], "unknown fault '418'"),
    ]:
        result = runner.invoke(app, ["sandbox", "serve", "--db", str(tmp_path / "x.db"), *option])
        assert result.exit_code == 2
        assert message in result.stderr
    flavor = runner.invoke(app, ["sandbox", "serve", "--flavor", "server"])
    assert flavor.exit_code == 2 and "server" in flavor.stderr


def test_mcp_serve_with_an_unknown_site_exits_2():
    result = runner.invoke(app, ["mcp", "serve", "--site", "nope"])
    assert result.exit_code == 2
    assert "unknown site 'nope'; known sites: sandbox" in result.stderr
