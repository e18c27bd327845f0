"""An MCP server whose tools are whatever a JSON file says, for the tool-pin tests: a test rewrites the file
between connections to change a description, add a tool or remove one, as a server that pulls the rug does.

shifting_server.py PATH   PATH holds {"tool name": "its description", ...}; every tool takes `text` and
                          answers "NAME: text", and is read-only, so that a run calls it rather than staging it
"""

import json
import sys
from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations


def answer(name: str):
    def tool(text: str) -> str:
        return f"{name}: {text}"

    return tool


server = MCPServer("shifting")
for name, description in json.loads(Path(sys.argv[1]).read_text()).items():
    server.add_tool(answer(name), name=name, description=description,
                    annotations=ToolAnnotations(read_only_hint=True))  # fmt: skip

if __name__ == "__main__":
    server.run()
