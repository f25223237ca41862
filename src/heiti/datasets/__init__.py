"""Built-in datasets. Each module here may define Dataset subclasses; the registry finds them."""
