"""The MCP server of one Rovo endpoint request: the tools this caller may see, and v1's and v2's treatment of
parameters a tool does not declare.

The MCP SDK's argument models ignore unknown names without a word. v1 refuses them (its schemas say
`additionalProperties: false`, and a call naming one is an `is_error` result); v2 publishes
`additionalProperties: true` and strips them before the tool runs, which is how Rovo v2 "silently drops
parameters it does not know" (REMOTE-SERVERS-NOTES.md).
"""

from __future__ import annotations

from typing import Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings

from agentflow.sandbox.rovo.tooling import Spec

Version = Literal["v1", "v2"]
INSTRUCTIONS = "Atlassian Jira, Confluence and Compass tools (the agentflow sandbox's stand-in for Rovo MCP)."


class RovoServer(MCPServer):
    def __init__(self, version: Version, specs: list[Spec]) -> None:
        self.rovo_version = version
        strict = version == "v1"
        tools = [
            s.tool.model_copy(update={"parameters": {**s.tool.parameters, "additionalProperties": not strict}})
            for s in specs
        ]
        self.declared = {tool.name: set(tool.parameters.get("properties", {})) for tool in tools}
        super().__init__(name=f"atlassian-rovo-{version}", instructions=INSTRUCTIONS, tools=tools, log_level="WARNING")
        # One request per server (stateless): the manager is made here and run by the endpoint around that request.
        # Host and Origin are not checked, as the sandbox's REST side checks neither.
        self.streamable_http_app(
            stateless_http=True,
            json_response=True,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        declared = self.declared.get(name)
        if declared is not None:
            unknown = sorted(set(arguments) - declared)
            if unknown and self.rovo_version == "v1":
                raise ToolError(f"{name}: unknown parameter(s) {', '.join(unknown)}")
            arguments = {key: value for key, value in arguments.items() if key in declared}
        return await super().call_tool(name, arguments, context)
