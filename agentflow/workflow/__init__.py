"""Workflows: the YAML format (`schema`), its checks, run inputs, templates, and the loader that finds them."""
