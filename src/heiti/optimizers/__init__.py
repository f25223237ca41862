"""Built-in optimizers: one file per model-to-model step; the registry finds them."""
