"""Helpers around one framework each. They import that framework at module level, so
import them only from inside component methods (never from core/, cli.py or registry)."""
