"""Runtime flows (``heiti flow``): a source, preprocessing, a model, postprocessing and sinks,
each stage in its own thread, joined by bounded queues."""
