"""Built-in models: a small PyTorch zoo and wrappers for users' model files."""
