"""Helpers shared by the mobile backends (LiteRT, ExecuTorch): static batches, quiet imports."""

from __future__ import annotations

import logging

import numpy as np


def quiet_torchao() -> None:
    """torchao logs a warning for each optional CUDA kernel library it cannot load on a CPU
    host; call before the first import of torchao (litert-torch and ExecuTorch import it)."""
    logging.getLogger("torchao").setLevel(logging.ERROR)


def pad_to(batch: np.ndarray, size: int | None) -> tuple[np.ndarray, int]:
    """``batch`` padded (by repeating its last row) to ``size`` rows, and its real row count."""
    rows = len(batch)
    if size is None or size <= 0 or rows == size:
        return batch, rows
    if rows > size:
        raise ValueError(f"a batch of {rows} does not fit a model compiled for batch {size}")
    padding = np.repeat(batch[-1:], size - rows, axis=0)
    return np.concatenate([batch, padding]), rows
