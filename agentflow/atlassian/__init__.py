"""The bundled Atlassian MCP server (Jira, Confluence, Compass; Cloud and Data Center)."""
