"""Deployable packages: what heiti hands over for a device, built from a run's artifacts."""
