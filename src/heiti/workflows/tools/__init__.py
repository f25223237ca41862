"""Workflow tools, one file each."""
