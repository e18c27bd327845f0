"""A stand-in for Atlassian's Rovo MCP server (`/v1/mcp`, `/v2/mcp`) on the sandbox's data.

Every tool calls the sandbox's own Cloud REST API in-process as the signed-in user, as Rovo proxies Atlassian's
APIs: permissions, visibility, validation and errors are the site's. Facts about the real server come from
REMOTE-SERVERS-NOTES.md (its Rovo section). Modules: `identity` (who calls: Basic, service-account
Bearer, and the hook for OAuth), `scopes` (OAuth scope checks), `endpoint` (the ASGI routes), `server` (the MCP
server and unknown parameters), `tools_v1`, `tools_v2`, `catalogue` (v2's operations), `operations` (what the
tools do), `rest` (the in-process REST client), `tooling` (how a tool is declared), and the OAuth 2.1
authorization server in front of them: `oauth`, `oauth_store`, `consent`.
"""
