"""The agent: the model seam (`models`) and the plan/act loop over MCP tools (`loop`)."""
