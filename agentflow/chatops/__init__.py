"""ChatOps: the `/agentflow` Slack slash command and an authenticated webhook for other chat tools
(`agentflow serve`)."""
