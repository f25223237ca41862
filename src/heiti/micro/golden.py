"""The golden model: an exact integer interpreter of the graph (docs/micro.md).

Each operator's integer semantics is its unit's ``run`` (``micro/ops``), written once on
integer arrays that may be NumPy arrays or PyTorch tensors: a backend supplies only the
three window primitives (convolution sums, max and sum pooling). The NumPy backend below
computes in int64; the PyTorch backend (``torch_backend.py``) lets quantization-aware
training evaluate the very same integers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from heiti.micro.graph import Graph, Op
from heiti.micro.ops import unit


class NumpyBackend:
    """Exact int64 window primitives in NumPy."""

    @staticmethod
    def asarray(array: np.ndarray) -> np.ndarray:
        return np.asarray(array, dtype=np.int64)

    @staticmethod
    def conv_sums(x: np.ndarray, weight: np.ndarray, stride: int, pad: int, groups: int,
                  dilation: int = 1) -> np.ndarray:
        n, cin = x.shape[:2]
        cout, cg, kh, kw = weight.shape
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        span = ((kh - 1) * dilation + 1, (kw - 1) * dilation + 1)  # a dilated window's extent
        windows = sliding_window_view(x, span, axis=(2, 3))[:, :, ::stride, ::stride, ::dilation, ::dilation]
        ho, wo = windows.shape[2:4]
        windows = windows.reshape(n, groups, cg, ho, wo, kh, kw)
        w = weight.reshape(groups, cout // groups, cg, kh, kw)
        out = np.einsum("ngchwij,gocij->ngohw", windows, w, optimize=True)
        return out.reshape(n, cout, ho, wo)

    @staticmethod
    def max_pool(x: np.ndarray, kernel: int, stride: int) -> np.ndarray:
        windows = sliding_window_view(x, (kernel, kernel), axis=(2, 3))
        return windows[:, :, ::stride, ::stride].max(axis=(4, 5))

    @staticmethod
    def sum_pool(x: np.ndarray, kh: int, kw: int, stride: int) -> np.ndarray:
        return sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride].sum(axis=(4, 5))


def run_op(op: Op, inputs: list[Any], backend: Any, scheme: str = "pow2") -> Any:
    return unit(op.kind).run(op, inputs, backend, scheme)


def run_all(graph: Graph, raw: Any, backend: Any = NumpyBackend) -> dict[str, Any]:
    """Every tensor's value (int64) for a batch of raw inputs (a list of batches, one per graph
    input, for a model with several)."""
    batches = list(raw) if isinstance(raw, list | tuple) else [raw]
    if len(batches) != len(graph.inputs):
        raise ValueError(f"the graph has {len(graph.inputs)} inputs, {len(batches)} were given")
    values = {name: backend.asarray(batch) for name, batch in zip(graph.inputs, batches, strict=True)}
    for op in graph.ops:
        values[op.output] = run_op(op, [values[name] for name in op.inputs], backend, graph.scheme)
    return values


def run(graph: Graph, raw: Any, backend: Any = NumpyBackend) -> Any:
    """The graph's int8 outputs (as int64) for a batch of raw inputs."""
    return run_all(graph, raw, backend)[graph.output]


def run_outputs(graph: Graph, raw: Any, backend: Any = NumpyBackend) -> list[Any]:
    """Every graph output (int64), in the model's order."""
    values = run_all(graph, raw, backend)
    return [values[name] for name in graph.outputs]


def predict(graph: Graph, raw: Any, batch: int = 256) -> np.ndarray:
    """int8 outputs of the golden model as the device's output buffer: (N, every output flattened,
    one after the other), batched to bound memory. ``raw``: as in ``run_all``."""
    several = isinstance(raw, list | tuple)
    count = len(raw[0]) if several else len(raw)

    def part(i: int) -> Any:
        return [r[i : i + batch] for r in raw] if several else raw[i : i + batch]

    parts = [np.concatenate([o.reshape(len(o), -1) for o in run_outputs(graph, part(i))], axis=1)
             for i in range(0, count, batch)]
    return np.concatenate(parts).astype(np.int8)
