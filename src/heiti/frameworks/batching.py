"""Feeding models compiled for a static batch size: pad a short last batch, drop the padding."""

from __future__ import annotations

import numpy as np


def pad_to(batch: np.ndarray, size: int | None) -> tuple[np.ndarray, int]:
    """``batch`` padded (by repeating its last row) to ``size`` rows, and its real row count."""
    rows = len(batch)
    if size is None or size <= 0 or rows == size:
        return batch, rows
    if rows > size:
        raise ValueError(f"a batch of {rows} does not fit a model compiled for batch {size}")
    padding = np.repeat(batch[-1:], size - rows, axis=0)
    return np.concatenate([batch, padding]), rows
