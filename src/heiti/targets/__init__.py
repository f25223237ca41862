"""Built-in targets: where inference runs and how heiti reaches it."""
