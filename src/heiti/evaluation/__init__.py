"""Metrics and figures of tasks that need more than a few lines (computed with the field's
libraries)."""
