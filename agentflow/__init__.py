"""agentflow: agentic workflows over MCP for teams whose work lives in Jira, Confluence and Compass."""

__version__ = "0.1.0"
