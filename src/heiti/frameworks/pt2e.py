"""Post-training int8 quantization of PyTorch modules with PT2E (torchao), shared by the
converters whose backends take PT2E-quantized graphs (LiteRT, ExecuTorch/XNNPACK)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def quantize(module: torch.nn.Module, example: torch.Tensor, quantizer: Any,
             calibration: np.ndarray, batch_size: int, fold_weights: bool = True) -> torch.nn.Module:
    """Export ``module``, insert observers, run the calibration samples, convert to int8.

    ``fold_weights`` stores int8 weights (ExecuTorch needs that); litert-torch wants the
    float weights followed by quantize ops instead."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    graph = torch.export.export(module, (example,)).module()
    prepared = prepare_pt2e(graph, quantizer)
    usable = len(calibration) - len(calibration) % batch_size
    with torch.no_grad():
        for start in range(0, max(usable, batch_size), batch_size):
            chunk = calibration[start : start + batch_size]
            if len(chunk) == batch_size:
                prepared(canonical(chunk))
    return convert_pt2e(prepared, fold_quantize=fold_weights)


def example_batch(x: np.ndarray, batch_size: int) -> torch.Tensor:
    """A batch of real samples (repeated when the split is smaller than the batch).

    Always a fresh tensor with canonical strides: a view of the dataset array may carry unusual
    strides on size-1 dimensions, which torch.export reads as a memory layout (dim order)
    that XNNPACK then rejects at run time."""
    rows = np.resize(x, (batch_size, *x.shape[1:])) if len(x) < batch_size else x[:batch_size]
    return canonical(rows)


def canonical(x: np.ndarray) -> torch.Tensor:
    """A float32 tensor on a fresh C-ordered copy of ``x`` (canonical strides)."""
    return torch.from_numpy(np.array(x, dtype=np.float32, order="C"))
