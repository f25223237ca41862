"""The float graph: the integer graph's operators with float weights, before quantization.

Importers (PyTorch, ONNX) build it with ``FloatBuilder``; calibration runs it with
``float_run_all``; ``quantize.py`` turns it into an integer graph. It always starts
with a ``preprocess`` op (mean subtraction in raw units), like the integer graph.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from heiti.errors import InputError
from heiti.micro.golden import NumpyBackend
from heiti.micro.graph import Graph, Op, Tensor

FUSABLE = ("conv2d", "dense", "add")


class FloatBuilder:
    def __init__(self, input_shape: tuple[int, ...], input_scale: float, mean: np.ndarray | None = None):
        self.input_scale = input_scale
        self.tensors = {"input": Tensor("input", tuple(input_shape), 0.0, "uint8")}
        self.ops: list[Op] = []
        self.current = "input"
        mean = np.zeros(input_shape[0], dtype=np.int32) if mean is None else mean
        self._emit("preprocess", ["input"], tuple(input_shape), {}, {"mean": mean.astype(np.int32)})

    @property
    def shape(self) -> tuple[int, ...]:
        return self.tensors[self.current].shape

    def _emit(self, kind: str, inputs: list[str], shape: tuple[int, ...], attrs: dict[str, Any],
              arrays: dict[str, np.ndarray] | None = None) -> str:
        if any(d < 1 for d in shape):
            raise InputError(f"micro: {kind} would turn a {list(self.shape)} tensor into an empty "
                             f"{list(shape)} one", hint="windows must fit inside their input")
        name = f"t{len(self.ops)}"
        self.tensors[name] = Tensor(name, tuple(int(d) for d in shape), 0.0)
        self.ops.append(Op(kind, inputs, name, attrs, arrays or {}))
        self.current = name
        return name

    def producer(self, name: str) -> Op:
        return next(op for op in self.ops if op.output == name)

    def _producer(self) -> Op:
        return self.producer(self.current)

    def conv(self, weight: np.ndarray, bias: np.ndarray, stride: int, pad: int, groups: int) -> str:
        _, h, w = self.shape
        cout, _, kh, kw = weight.shape
        shape = (cout, (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1)
        return self._emit("conv2d", [self.current], shape,
                          {"stride": stride, "pad": pad, "groups": groups, "act": None},
                          {"weight": weight, "bias": bias})

    def dense(self, weight: np.ndarray, bias: np.ndarray) -> str:
        return self._emit("dense", [self.current], (weight.shape[0],), {"act": None},
                          {"weight": weight, "bias": bias})

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
        if fuse and op.kind in FUSABLE and op.attrs["act"] is None:
            op.attrs["act"] = kind
            return self.current
        return self._emit("clamp", [self.current], self.shape, {"act": kind})

    def maxpool(self, kernel: int, stride: int) -> str:
        c, h, w = self.shape
        shape = (c, (h - kernel) // stride + 1, (w - kernel) // stride + 1)
        return self._emit("maxpool", [self.current], shape, {"kernel": kernel, "stride": stride})

    def avgpool(self, kh: int, kw: int, stride: int) -> str:
        c, h, w = self.shape
        return self._emit("avgpool", [self.current], (c, (h - kh) // stride + 1, (w - kw) // stride + 1),
                          {"kh": kh, "kw": kw, "stride": stride})

    def reshape(self, shape: tuple[int, ...]) -> str:
        return self._emit("reshape", [self.current], shape, {"shape": list(shape)})

    def add(self, a: str, b: str) -> str:
        return self._emit("add", [a, b], self.tensors[a].shape, {"act": None})

    def finish(self) -> Graph:
        return Graph(self.tensors, self.ops, "input", self.current, "float", self.input_scale)


def apply_act(x: np.ndarray, act: str | None) -> np.ndarray:
    if act == "relu":
        return np.maximum(x, 0)
    if act == "relu6":
        return np.clip(x, 0, 6)
    return x


def float_run_all(graph: Graph, x: np.ndarray, after: dict[str, Any] | None = None,
                  known: dict[str, np.ndarray] | None = None, start: int = 0) -> dict[str, np.ndarray]:
    """Every tensor's float value for dataset inputs ``x`` (``raw * input_scale``); ``after``
    maps tensors to a function applied to their value (e.g. rounding to an int8 grid);
    ``known`` values of the operators before ``start`` are reused, not computed again."""
    values = dict(known or {}) | {graph.input: np.asarray(x, dtype=np.float64)}
    for op in graph.ops[start:]:
        a, arr = op.attrs, op.arrays
        v = values[op.inputs[0]]
        if op.kind == "preprocess":
            out = v - (arr["mean"] * graph.input_scale).reshape((1, -1) + (1,) * (v.ndim - 2))
        elif op.kind == "conv2d":
            out = NumpyBackend.conv_sums(v, arr["weight"], a["stride"], a["pad"], a["groups"])
            out = apply_act(out + arr["bias"].reshape(1, -1, 1, 1), a["act"])
        elif op.kind == "dense":
            out = apply_act(v.reshape(len(v), -1) @ arr["weight"].T + arr["bias"], a["act"])
        elif op.kind == "maxpool":
            out = NumpyBackend.max_pool(v, a["kernel"], a["stride"])
        elif op.kind == "avgpool":
            out = NumpyBackend.sum_pool(v, a["kh"], a["kw"], a["stride"]) / (a["kh"] * a["kw"])
        elif op.kind == "add":
            out = apply_act(v + values[op.inputs[1]], a["act"])
        elif op.kind == "clamp":
            out = apply_act(v, a["act"])
        elif op.kind == "reshape":
            out = v.reshape(len(v), *a["shape"])
        else:
            raise ValueError(f"unknown operator '{op.kind}'")
        values[op.output] = after[op.output](out) if after and op.output in after else out
    return values
