"""Built-in runtimes: one file per inference engine; the registry finds them."""
