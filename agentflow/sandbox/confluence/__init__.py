"""The sandbox's Confluence REST API: v1 (CQL search, content) and v2 pages."""
