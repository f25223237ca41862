"""The flow: train, optimize, test (the inference loop), report."""
