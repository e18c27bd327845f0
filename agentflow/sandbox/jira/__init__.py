"""The sandbox's Jira REST API (Cloud v3/v2 and Data Center v2): reads, writes and the shapes they answer in."""
