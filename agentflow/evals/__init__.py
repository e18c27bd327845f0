"""`agentflow eval`: suites of cases that say what a workflow must find, run against a fresh sandbox or a site."""
