"""The float graph: the integer graph's operators with float weights, before quantization.

Importers (PyTorch, ONNX) build it with ``FloatBuilder``; calibration runs it with
``float_run_all``; ``quantize.py`` turns it into an integer graph. It always starts
with a ``preprocess`` op (mean subtraction in raw units), like the integer graph.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from heiti.errors import InputError
from heiti.micro.graph import Graph, Op, Tensor
from heiti.micro.ops import unit


class FloatBuilder:
    def __init__(self, input_shape: tuple[int, ...], input_scale: float, mean: np.ndarray | None = None,
                 dtype: str = "uint8"):
        self.input_scale = input_scale
        self.tensors = {"input": Tensor("input", tuple(input_shape), 0.0, dtype)}  # raw uint8, or int8
        self.ops: list[Op] = []
        self.current = "input"
        self.names: dict[str, str] = {}  # graph tensor -> the model's own name for it
        mean = np.zeros(input_shape[0], dtype=np.int32) if mean is None else mean
        self.emit("preprocess", ["input"], {}, {"mean": mean.astype(np.int32)})

    @property
    def shape(self) -> tuple[int, ...]:
        return self.tensors[self.current].shape

    def emit(self, kind: str, inputs: list[str], attrs: dict[str, Any],
              arrays: dict[str, np.ndarray] | None = None) -> str:
        """Append an operator; its unit infers the output shape."""
        arrays = arrays or {}
        shape = unit(kind).infer_shape([self.tensors[name].shape for name in inputs], attrs, arrays)
        if any(d < 1 for d in shape):
            raise InputError(f"micro: {kind} would turn a {list(self.shape)} tensor into an empty "
                             f"{list(shape)} one", hint="windows must fit inside their input")
        name = f"t{len(self.ops)}"
        self.tensors[name] = Tensor(name, tuple(int(d) for d in shape), 0.0)
        self.ops.append(Op(kind, inputs, name, attrs, arrays))
        self.current = name
        return name

    def producer(self, name: str) -> Op:
        return next(op for op in self.ops if op.output == name)

    def _producer(self) -> Op:
        return self.producer(self.current)

    def conv(self, weight: np.ndarray, bias: np.ndarray, stride: int, pad: int, groups: int) -> str:
        attrs = {"stride": stride, "pad": pad, "groups": groups, "act": None}
        return self.emit("conv2d", [self.current], attrs, {"weight": weight, "bias": bias})

    def dense(self, weight: np.ndarray, bias: np.ndarray) -> str:
        return self.emit("dense", [self.current], {"act": None}, {"weight": weight, "bias": bias})

    def fold_affine(self, scale: np.ndarray, shift: np.ndarray) -> bool:
        """Fold a per-channel ``y = x * scale + shift`` (batch norm) into the conv before it."""
        op = self._producer()
        if op.kind != "conv2d" or op.attrs["act"] is not None:
            return False
        op.arrays["weight"] = op.arrays["weight"] * scale[:, None, None, None]
        op.arrays["bias"] = op.arrays["bias"] * scale + shift
        return True

    def activation(self, kind: str, fuse: bool = True) -> str:
        """Fuse into the producing op (unless its output has other readers: ``fuse``)."""
        op = self._producer()
        if kind == "relu" and op.attrs.get("act") in ("relu", "relu6"):
            return self.current  # already non-negative
        if fuse and unit(op.kind).fusable and op.attrs["act"] is None:
            op.attrs["act"] = kind
            return self.current
        return self.emit("clamp", [self.current], {"act": kind})

    def maxpool(self, kernel: int, stride: int) -> str:
        return self.emit("maxpool", [self.current], {"kernel": kernel, "stride": stride})

    def avgpool(self, kh: int, kw: int, stride: int) -> str:
        return self.emit("avgpool", [self.current], {"kh": kh, "kw": kw, "stride": stride})

    def reshape(self, shape: tuple[int, ...]) -> str:
        return self.emit("reshape", [self.current], {"shape": list(shape)})

    def add(self, a: str, b: str) -> str:
        return self.emit("add", [a, b], {"act": None})

    def name(self, tensor: str, model_name: str) -> None:
        """Remember the model's own name of a tensor (reports show it)."""
        self.names.setdefault(tensor, model_name)

    def finish(self) -> Graph:
        return Graph(self.tensors, self.ops, "input", self.current, "float", self.input_scale,
                     {"names": self.names})


def float_run_all(graph: Graph, x: np.ndarray, after: dict[str, Any] | None = None,
                  known: dict[str, np.ndarray] | None = None, start: int = 0) -> dict[str, np.ndarray]:
    """Every tensor's float value for dataset inputs ``x`` (``raw * input_scale``); ``after``
    maps tensors to a function applied to their value (e.g. rounding to an int8 grid);
    ``known`` values of the operators before ``start`` are reused, not computed again."""
    values = dict(known or {}) | {graph.input: np.asarray(x, dtype=np.float64)}
    for op in graph.ops[start:]:
        out = unit(op.kind).float_run(op, [values[name] for name in op.inputs], graph)
        values[op.output] = after[op.output](out) if after and op.output in after else out
    return values
