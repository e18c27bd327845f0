"""Serving an ASGI app on a port: bind first (port 0 picks a free one), say where, then serve until stopped.

Used by `agentflow mcp serve --http`. (The sandbox has its own copy of this because it imports nothing else
of agentflow.)
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import uvicorn


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Inherited by accepted connections: without it, Nagle's algorithm and delayed ACKs stall each response.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(128)  # listening before we announce the URL: a client that connects at once must not be refused
    return sock


def serve(app: Any, host: str, port: int, on_ready: Callable[[str], None], log_level: str = "warning") -> None:
    """Serve until interrupted; `on_ready(base_url)` runs once the port is bound."""
    sock = bind(host, port)
    shown = f"[{host}]" if ":" in host else host
    on_ready(f"http://{shown}:{sock.getsockname()[1]}")
    uvicorn.Server(uvicorn.Config(app, log_level=log_level)).run(sockets=[sock])
