"""Post-training int8 quantization of PyTorch modules with PT2E (torchao), shared by the
converters whose backends take PT2E-quantized graphs (LiteRT, ExecuTorch/XNNPACK)."""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from heiti.errors import component_failures


@contextlib.contextmanager
def converter_output(step: str) -> Iterator[None]:
    """Silence a converter's stage-by-stage printing and warnings; if it fails, raise
    RunFailed with its error and the tail of what it printed."""
    captured = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(captured), \
            contextlib.redirect_stderr(captured), component_failures(step, captured.getvalue):
        warnings.simplefilter("ignore")
        yield


def quantize(module: torch.nn.Module, example: torch.Tensor, quantizer: Any,
             calibration: np.ndarray, batch_size: int, fold_weights: bool = True) -> torch.nn.Module:
    """Export ``module``, insert observers, run the calibration samples, convert to int8.

    ``fold_weights`` stores int8 weights (ExecuTorch needs that); litert-torch wants the
    float weights followed by quantize ops instead."""
    from torchao.quantization.pt2e import move_exported_model_to_eval
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    graph = torch.export.export(module, (example,)).module()
    prepared = prepare_pt2e(graph, quantizer)
    usable = len(calibration) - len(calibration) % batch_size
    with torch.no_grad():
        for start in range(0, max(usable, batch_size), batch_size):
            chunk = calibration[start : start + batch_size]
            if len(chunk) == batch_size:
                prepared(canonical(chunk))
    return move_exported_model_to_eval(convert_pt2e(prepared, fold_quantize=fold_weights))


def example_batch(ctx: Any, io: Any, batch_size: int) -> torch.Tensor:
    """A batch of real samples from the validation split (repeated when the split is
    smaller than the batch); seeded random values of the input's shape when the step runs
    without a dataset (only shapes matter for tracing).

    Always a fresh tensor with canonical strides: a view of the dataset array may carry
    unusual strides on size-1 dimensions, which torch.export reads as a memory layout (dim
    order) that XNNPACK then rejects at run time."""
    if ctx.dataset is None:
        shape = [batch_size, *io.inputs[0].shape[1:]]
        return canonical(np.random.default_rng(ctx.seed).random(shape, dtype=np.float32))
    x = ctx.dataset.split("val").x
    return canonical(np.resize(x, (batch_size, *x.shape[1:])) if len(x) < batch_size else x[:batch_size])


def canonical(x: np.ndarray) -> torch.Tensor:
    """A float32 tensor on a fresh C-ordered copy of ``x`` (canonical strides)."""
    return torch.from_numpy(np.array(x, dtype=np.float32, order="C"))
