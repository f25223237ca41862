"""Workflows (``heiti workflow``): named steps of tools whose outputs are stored by content."""
