"""`agentflow servers ...`: the MCP servers the config names — signing in to remote ones, and the tool pins that
guard against a server quietly redefining its tools."""

from __future__ import annotations

import typer

from agentflow.cli.base import sub_app

servers_app = sub_app(
    "The MCP servers of the config: sign in to remote ones (OAuth 2.1, API token) and review their tool pins."
)


def register(app: typer.Typer) -> None:
    from agentflow.cli import pinning, signin  # noqa: F401 - pinning's commands join servers_app as it is imported

    signin.register(servers_app)
    app.add_typer(servers_app, name="servers")
