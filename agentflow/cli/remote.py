"""`agentflow servers ...`: the MCP servers the config names — signing in to remote ones, and the tool pins that
guard against a server quietly redefining its tools."""

from __future__ import annotations

import typer

from agentflow.cli.base import sub_app

servers_app = sub_app(
    "The MCP servers of the config: sign in to remote ones (OAuth 2.1, API token) and review their tool pins."
)


def register(app: typer.Typer) -> None:
    from agentflow.cli import signin

    signin.register(servers_app)  # first: `servers --help` lists sign-in, then pins
    from agentflow.cli import pinning  # noqa: F401 - its commands join servers_app as it is imported

    app.add_typer(servers_app, name="servers")
