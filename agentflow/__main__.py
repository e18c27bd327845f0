"""`python -m agentflow` is the `agentflow` command."""

from agentflow.cli import main

main()
