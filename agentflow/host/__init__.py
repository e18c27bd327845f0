"""The MCP host: connecting the servers a workflow names (`servers`) and the tool catalogue it may use (`toolbox`)."""
