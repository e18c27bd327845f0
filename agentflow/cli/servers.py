"""Serving commands: the embedded sandbox (`sandbox serve`, `sandbox reset`) and the bundled MCP server
(`mcp serve`)."""

from __future__ import annotations

import json
import sqlite3
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from agentflow.cli import base as ui
from agentflow.cli.base import sub_app
from agentflow.errors import ConfigError

if TYPE_CHECKING:
    from agentflow.budget import SiteQuota


def register(app: typer.Typer) -> None:
    app.add_typer(sandbox_app, name="sandbox")
    app.add_typer(mcp_app, name="mcp")


sandbox_app = sub_app("The embedded Atlassian site: a local Jira (Cloud or Data Center), Confluence and Compass.")


class Flavor(StrEnum):
    cloud = "cloud"
    dc = "dc"


FLAVOR_OPTION = typer.Option(help="Jira Cloud (REST v3 with ADF; v2 too) or Data Center (REST v2, wiki markup).")
DB_OPTION = typer.Option("--db", help="The site's database file (default: sandbox.db in the state directory).")


@sandbox_app.command("serve")
def sandbox_serve(
    port: Annotated[int, typer.Option(help="Port on the host; 0 picks a free one.")] = 8990,
    host: Annotated[str, typer.Option(help="Interface to bind; loopback unless you mean otherwise.")] = "127.0.0.1",
    flavor: Annotated[Flavor, FLAVOR_OPTION] = Flavor.cloud,
    db: Annotated[str | None, DB_OPTION] = None,
    rate_limit: Annotated[
        str | None, typer.Option("--rate-limit", help="Answer 429 after N requests in a sliding hour, e.g. 500/h.")
    ] = None,
    faults: Annotated[
        str | None, typer.Option(help="Inject faults at random, e.g. 429=0.2,503=0.05,latency=50ms (seeded).")
    ] = None,
    scale: Annotated[int, typer.Option(help="Add N generated issues when the database is created.")] = 0,
    request_log: Annotated[
        Path | None,
        typer.Option(
            "--request-log", help="Append a JSON line for every request received (method, path, status, time)."
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON line with the URL, users and tokens.")
    ] = False,
) -> None:
    """Serve the sandbox on HTTP: prints its URL, the seeded users with their tokens, and the env vars to use."""
    from agentflow.sandbox import limits, site

    try:
        per_hour = limits.parse_rate_limit(rate_limit) if rate_limit else None
        injected = limits.Faults.parse(faults) if faults else None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if request_log is not None:
        try:
            request_log.open("a").close()
        except OSError as exc:
            raise ConfigError(f"cannot write the request log {request_log}: {exc.strerror or exc}") from None
    path = _sandbox_path(db)
    try:
        sandbox = site.Site.open(
            flavor.value, path, per_hour=per_hour, faults=injected, scale=scale, request_log=request_log
        )
    except OSError as exc:
        raise ConfigError(f"cannot open the sandbox database {path}: {exc.strerror or exc}") from None
    except sqlite3.DatabaseError as exc:
        from agentflow.atlassian.backend import SANDBOX_REMEDY
        from agentflow.statefiles import damaged

        raise damaged(path, "sandbox database", str(exc), SANDBOX_REMEDY) from None

    def announce(base_url: str) -> None:
        info = sandbox.describe(base_url)
        if as_json:
            typer.echo(json.dumps({**info, "db": str(path)}), nl=True)
            return
        console = ui.console()
        where = ui.escape(str(path))
        console.print(f"[bold]agentflow sandbox[/] ({flavor.value}) at [bold]{base_url}[/]  database: {where}")
        # Plain padded lines, not a table: a table squeezed to the terminal's width would cut the tokens.
        for user in info["users"]:
            line = f"  {user['username']:<5} {user['name']:<14} {user['email']:<27} token {user['token']}"
            console.print(ui.escape(line))
        rovo = info["rovo"]
        console.print(
            f"\nRovo-like MCP: {rovo['v1']} and {rovo['v2']} (cloudId {rovo['cloud_id']}); service-account keys:"
        )
        for user in info["users"]:
            console.print(ui.escape(f"  {user['username']:<5} Bearer {user['service_account_key']}"))
        console.print("\nPoint a client at it (as sre):")
        for name, value in info["env"].items():
            console.print(f"  export {name}={ui.escape(value)}")
        console.print("\nCtrl+C stops it.")

    try:
        site.serve(sandbox, host, port, announce)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; try another --port") from None


@sandbox_app.command("reset")
def sandbox_reset(
    db: Annotated[str | None, DB_OPTION] = None,
    flavor: Annotated[Flavor, FLAVOR_OPTION] = Flavor.cloud,
    scale: Annotated[
        int, typer.Option(min=0, max=1_000_000, help="Add N generated issues to the seed (e.g. 25000 to load-test).")
    ] = 0,
) -> None:
    """Delete the sandbox database and seed a fresh one (new tokens, nothing you created is kept)."""
    from agentflow.sandbox import site

    path = _sandbox_path(db)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    if scale:
        ui.console(stderr=True).print(f"[dim]seeding {scale:,} generated issues …[/]")
    sandbox = site.Site.open(flavor.value, path, scale=scale)
    issues = sandbox.store.query_one("SELECT COUNT(*) FROM issues")[0]
    pages = sandbox.store.query_one("SELECT COUNT(*) FROM pages")[0]
    sandbox.store.close()
    ui.console().print(f"sandbox reset: {ui.escape(str(path))} ({issues} issues, {pages} pages)")


mcp_app = sub_app("The bundled Atlassian MCP server (Jira, Confluence, Compass; Cloud and Data Center).")


TOKEN_VAR = "AGENTFLOW_MCP_TOKEN"
MIN_TOKEN_CHARS = 24


@mcp_app.command("serve")
def mcp_serve(
    http: Annotated[bool, typer.Option("--http", help="Serve streamable HTTP at /mcp instead of stdio.")] = False,
    port: Annotated[int, typer.Option(help="Port for --http; 0 picks a free one.")] = 8765,
    host: Annotated[str, typer.Option(help="Interface for --http; loopback unless you mean otherwise.")] = (
        "127.0.0.1"
    ),
    allow_host: Annotated[
        list[str] | None,
        typer.Option("--allow-host", help="With --http: a Host/Origin name clients use besides loopback (repeat)."),
    ] = None,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="With --http on loopback only: serve without the bearer token.")
    ] = False,
    site: Annotated[
        str | None, typer.Option(help="A site from the config file, 'env', or 'sandbox' (default: see README).")
    ] = None,
    read_only: Annotated[
        bool, typer.Option("--read-only", help="Hide and refuse the write tools (also AGENTFLOW_READ_ONLY=1).")
    ] = False,
    actor: Annotated[
        str | None, typer.Option(help="Who the budget says spent the requests (default: your user name).")
    ] = None,
    no_budget: Annotated[
        bool,
        typer.Option(
            "--no-budget", help="Do not meter the site's requests in the shared hourly budget (agentflow budget)."
        ),
    ] = False,
) -> None:
    """Serve the Atlassian tools over stdio (for MCP clients that start it) or streamable HTTP.

    Every request it sends to the site is reserved in the same hourly budget as agentflow's own runs
    (interactive priority), so an MCP client such as Claude Desktop or Cursor and agentflow share one quota;
    a request that does not fit is not sent and the tool says so.

    Over HTTP every request needs the bearer token (`agentflow mcp token`; or $AGENTFLOW_MCP_TOKEN):
    whoever reaches the port would otherwise act with your Atlassian identity.
    """
    import sys

    from agentflow.atlassian.http_serving import http_app, is_loopback
    from agentflow.atlassian.server import AtlassianServer, read_only_from_env
    from agentflow.atlassian.sites import resolve_site

    if not http and (no_auth or allow_host):
        raise ConfigError("--no-auth and --allow-host go with --http")
    if no_auth and not is_loopback(host):
        raise ConfigError(f"--no-auth is refused on {host}: anyone who reaches it could act as you in Atlassian")
    chosen = resolve_site(site)
    quota = None if no_budget else _serve_quota(chosen.budget_key, actor or _user(), http)
    server = AtlassianServer(chosen, read_only=read_only or read_only_from_env(), quota=quota)
    mode = "read-only" if server.read_only else "read-write"
    metered = "budget not metered (--no-budget)" if quota is None else f"budget metered as {quota.attribution['actor']}"
    if not http:
        print(f"agentflow MCP server on stdio: {chosen.describe()}; {mode}, {metered}", file=sys.stderr)
        server.run("stdio")
        return
    from agentflow.cli import serving

    token = None if no_auth else mcp_token
    if token is not None:
        mcp_token()  # made now if it does not exist yet, and checked
    if no_auth:
        print("agentflow: --no-auth: any process of any user on this machine can use these tools as you",
              file=sys.stderr)  # fmt: skip
    if not is_loopback(host):
        names = ", ".join(allow_host or []) or "loopback names only (add --allow-host NAME)"
        print(f"agentflow: serving on {host}, reachable from the network; Host/Origin allowed: {names}",
              file=sys.stderr)  # fmt: skip
    app = http_app(server, host=host, token=token, allow_hosts=list(allow_host or []))
    auth = "no token (--no-auth)" if token is None else "bearer token required (agentflow mcp token)"

    def announce(base_url: str) -> None:
        print(f"agentflow MCP server at {base_url}/mcp: {chosen.describe()}; {mode}, {metered}, {auth}", flush=True)

    try:
        serving.serve(app, host, port, announce)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; try another --port") from None


@mcp_app.command("token")
def mcp_token_command(
    rotate: Annotated[
        bool, typer.Option("--rotate", help="Replace it: clients using the old one are refused.")
    ] = False,
) -> None:
    """Show the bearer token `agentflow mcp serve --http` requires (created on first use, kept private in the
    state directory); a client sends it as `Authorization: Bearer <token>`."""
    import os

    if rotate and os.environ.get(TOKEN_VAR):
        raise ConfigError(f"the token comes from ${TOKEN_VAR}; change that variable to rotate it")
    typer.echo(mcp_token(rotate=rotate))


def mcp_token(rotate: bool = False) -> str:
    """$AGENTFLOW_MCP_TOKEN, else the token in the state directory (made, 0600, on first use or `rotate`)."""
    import os
    import secrets

    from agentflow import config, statefiles

    if os.environ.get(TOKEN_VAR):
        if len(os.environ[TOKEN_VAR]) < MIN_TOKEN_CHARS:
            raise ConfigError(f"${TOKEN_VAR} is too short to be a secret: use at least {MIN_TOKEN_CHARS} characters")
        return os.environ[TOKEN_VAR]
    path = statefiles.private_file(config.state_dir() / "mcp-token")
    token = path.read_text(encoding="utf-8").strip()
    if rotate or not token:
        token = secrets.token_urlsafe(32)
        statefiles.write_private(path, token + "\n")
    return token


def _user() -> str:
    """The OS user's name; a container running under an arbitrary uid has none, so its number stands in."""
    import getpass
    import os

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def _serve_quota(site: str, actor: str, http: bool) -> SiteQuota:
    """The share of the machine's hourly budget an `mcp serve` process spends: interactive, named after its user."""
    from agentflow.budget import SiteQuota, open_budget
    from agentflow.config import load_config

    workflow = "mcp serve --http" if http else "mcp serve"
    return SiteQuota(open_budget(load_config()), site, "interactive", workflow=workflow, actor=actor)


def _sandbox_path(db: str | None) -> Path:
    if db == ":memory:":
        return Path(db)
    from agentflow import config, statefiles

    if not db:
        path = config.sandbox_db()
        statefiles.private_dir(path.parent)
        return path
    path = Path(db).expanduser()  # a place the user chose (even /tmp): the file itself is made private
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {path.parent}: {exc.strerror}") from None
    return path
