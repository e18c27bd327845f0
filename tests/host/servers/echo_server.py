"""A tiny MCP server for the host's stdio tests; the first argument picks a misbehaviour.

echo_server.py           serve the tools below
echo_server.py broken    complain on stderr and exit 1 before any handshake
echo_server.py silent    read requests and never answer them
echo_server.py chatty    print a banner to stdout, as a misconfigured server does, then serve
echo_server.py garbled   write bytes that are not UTF-8 to stdout, then serve
"""

import os
import sys

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations

server = MCPServer("echo")
# While it serves, the SDK points fd 1 at stderr to keep stray prints off the wire; babble writes to the wire.
WIRE = os.dup(1)


@server.tool(annotations=ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True))
def echo(text: str) -> str:
    """Say it back."""
    return text


@server.tool()
def fail(why: str) -> str:
    """Fail the way a tool fails: an is_error result."""
    raise ToolError(why)


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
async def slow(seconds: float) -> str:
    """Take its time."""
    await anyio.sleep(seconds)
    return "done"


# Read-only, so that a host that stages writes still calls it: it is meant to crash the server, not to write.
@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def crash() -> str:
    """Die mid-call, as a crashing server does."""
    print("about to crash: out of cheese", file=sys.stderr, flush=True)
    os._exit(3)


# Read-only like crash: it breaks the server (stdout is the protocol's), it writes nothing.
@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def babble(text: str) -> str:
    """Print to stdout, where only JSON-RPC belongs, then answer."""
    os.write(WIRE, f"{text}\n".encode())
    return "said it"


@server.tool()
def environment() -> dict[str, str]:
    """The environment this process was given."""
    return dict(os.environ)


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "serve"
    if mode == "broken":
        print("starting echo", file=sys.stderr)
        print("fatal: ECHO_TOKEN is not set", file=sys.stderr)
        sys.exit(1)
    if mode == "silent":
        for _request in sys.stdin:  # reads until its stdin closes, answers nothing
            pass
        sys.exit(0)
    if mode == "chatty":
        os.write(1, b"Loading config from ~/.echo.toml...\n")
    if mode == "garbled":
        os.write(1, b"\xff\xfe\x00garbled\n")
    server.run()
