"""The embedded Atlassian site: Jira (Cloud or Data Center flavor), Confluence and Compass over HTTP.

It imports nothing else of agentflow: it is a stand-alone fake of Atlassian that real clients accept.
"""
