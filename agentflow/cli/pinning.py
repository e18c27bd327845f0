"""`agentflow servers diff NAME` and `agentflow servers trust NAME`: reviewing a server's tools against their pins
in `agentflow.lock` (`host.pins`), and accepting them after review. They join the `servers` group of `remote`."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from agentflow.cli import base as ui
from agentflow.cli.base import EXIT_FAILED
from agentflow.cli.remote import servers_app
from agentflow.errors import ConfigError

if TYPE_CHECKING:
    from agentflow.host.pins import PinLock
    from agentflow.host.servers import HostTool
    from agentflow.host.specs import ServerSpec

NAME_ARGUMENT = typer.Argument(help="A server of the config (`atlassian` is the bundled one).", show_default=False)


@servers_app.command("diff")
def servers_diff(name: Annotated[str, NAME_ARGUMENT]) -> None:
    """Show how a server's tools differ from their pins, trusting nothing.

    It connects the server to read its tools as they are now (no tool is called) and shows each tool changed,
    added or removed since they were pinned in agentflow.lock."""
    lock, spec, tools = _connected(name)
    ui.console().print(ui.escape(lock.review(spec, tools).text()))


@servers_app.command("trust")
def servers_trust(
    name: Annotated[str, NAME_ARGUMENT],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask; for scripts, once you reviewed the diff.")] = (
        False
    ),
) -> None:
    """Accept a server's tools as they are now, after review.

    It shows the diff against their pins (as `servers diff` does), asks, then records the tools in agentflow.lock,
    so that runs using the server go on."""
    lock, spec, tools = _connected(name)
    review = lock.review(spec, tools)
    out = ui.console()
    out.print(ui.escape(review.text()))
    if review.pinned is not None and not review.differs:
        return
    if not yes:
        if not sys.stdin.isatty():
            raise ConfigError(f"trusting {name}'s tools needs a confirmation: run it at a terminal, or pass --yes")
        count = f"{len(tools)} tool{'s' if len(tools) != 1 else ''}"
        if not typer.confirm(f"Trust these {count} of {name}?", default=False):
            out.print("Nothing was trusted.")
            raise typer.Exit(EXIT_FAILED)
    lock.trust(spec, tools)
    out.print(ui.escape(f"Trusted {len(tools)} tools of {spec.name}, pinned in {lock.path}."))


def _connected(name: str) -> tuple[PinLock, ServerSpec, list[HostTool]]:
    """The lock, the configured server `name` and its tools as it offers them now (connected without checking
    its pins: that is what a review is for)."""
    import asyncio

    from agentflow.atlassian.sites import resolve_site
    from agentflow.config import load_config
    from agentflow.host.pins import PinLock
    from agentflow.host.servers import Host
    from agentflow.host.specs import load_server_specs

    config = load_config()
    specs = load_server_specs(config)
    spec = specs.get(name)
    if spec is None:
        raise ConfigError(f"no MCP server named '{name}' is configured (configured: {', '.join(sorted(specs))})")
    site = resolve_site(None, config=config) if spec.transport == "bundled" else None

    async def tools() -> list[HostTool]:
        async with Host([spec], site=site) as host:
            return host.tools()

    return PinLock(), spec, asyncio.run(tools())
