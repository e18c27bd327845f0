"""agentflow: agentic workflows over MCP for teams whose work lives in Jira, Confluence and Compass."""

import time

__version__ = "0.1.0"
# When this process first imported agentflow: where `processes.age` counts from when the OS does not tell.
IMPORTED = time.monotonic()
