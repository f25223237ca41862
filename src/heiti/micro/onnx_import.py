"""ONNX → integer graph: float models (then calibrated like PTQ) and QDQ int8 models
(e.g. from ``ort-quantize``), whose int8 weights and scales are kept.

QuantizeLinear/DequantizeLinear pairs on activations only annotate a tensor with
its scale and zero point (uint8 ones as the int8 zero point ``z - 128``, the same grid);
QDQ models become graphs in the ``tflite`` scheme, so every zero point and the output
scale of pooling and additions are kept. A QDQ model quantizes a convolution's output
and again the ReLU's output; heiti fuses the ReLU and requantizes once, to the ReLU's
grid. ONNX Runtime requantizes in floating point, heiti in TFLite's fixed point, so
results can differ by one unit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from heiti.errors import InputError
from heiti.micro.floatgraph import FloatBuilder
from heiti.micro.graph import Graph
from heiti.micro.ops import unit

SUPPORTED = ("Conv (dilation 1, groups 1 or depthwise, symmetric pads), Gemm (alpha = beta = 1), "
             "Relu, Clip (0..6), MaxPool and AveragePool (no pads, floor), GlobalAveragePool, Add, "
             "Flatten, Reshape (flatten), BatchNormalization after Conv, Identity, Dropout, "
             "QuantizeLinear/DequantizeLinear")


def _reject(node: Any, why: str) -> InputError:
    return InputError(f"micro: ONNX node '{node.name or node.output[0]}' ({node.op_type}) is not "
                      f"supported: {why}", hint=f"supported: {SUPPORTED}")


class _Importer:
    def __init__(self, model: Any, input_scale: float):
        from onnx import numpy_helper

        graph = model.graph
        self.consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
        for node in graph.node:
            if node.op_type == "Constant":
                self.consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        self.consumers: dict[str, int] = {}
        for node in graph.node:
            for name in node.input:
                self.consumers[name] = self.consumers.get(name, 0) + 1
        self.nodes = [n for n in graph.node if n.op_type != "Constant"]
        inputs = [i for i in graph.input if i.name not in self.consts]
        if len(inputs) != 1 or len(graph.output) != 1:
            raise InputError("micro: only ONNX models with one input and one output are supported")
        dims = [d.dim_value for d in inputs[0].type.tensor_type.shape.dim][1:]
        if len(dims) != 3 or not all(dims):
            raise InputError(f"micro: the ONNX input must be N x C x H x W with fixed C, H, W (got {dims})")
        self.builder = FloatBuilder(tuple(dims), input_scale)
        self.names = {inputs[0].name: self.builder.current}  # ONNX tensor -> graph tensor
        self.alias: dict[str, str] = {}  # Q/DQ outputs -> the float tensor they annotate
        self.weights: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # DQ'd constant -> (int8, scales)
        self.scales: dict[str, tuple[float, int]] = {}  # graph tensor -> int8 (scale, zero point)
        self.output = graph.output[0].name

    def resolve(self, name: str) -> str:
        while name in self.alias:
            name = self.alias[name]
        return name

    def tensor(self, name: str) -> str:
        name = self.resolve(name)
        if name not in self.names:
            raise InputError(f"micro: ONNX tensor '{name}' is neither computed nor a supported constant")
        return self.names[name]

    def const(self, node: Any, index: int) -> np.ndarray:
        if index >= len(node.input) or not node.input[index]:
            return None
        name = self.resolve(node.input[index])
        if name not in self.consts:
            raise _reject(node, f"input {index} must be a constant")
        return self.consts[name].astype(np.float64)

    def run(self) -> tuple[Graph, dict[str, tuple[float, int]]]:
        for node in self.nodes:
            self.node(node)
        self.builder.current = self.tensor(self.output)
        return self.builder.finish(), self.scales

    def node(self, node: Any) -> None:
        from onnx.helper import get_attribute_value

        attrs = {a.name: get_attribute_value(a) for a in node.attribute}
        op = node.op_type
        if op in ("QuantizeLinear", "DequantizeLinear"):
            return self.qdq(node, attrs)
        if op in ("Identity", "Dropout"):
            self.alias[node.output[0]] = node.input[0]
            return None
        handler = OPERATORS.get(op)
        if handler is None:
            raise _reject(node, "no integer kernel")
        self.builder.current = self.tensor(node.input[0])
        handler(self, node, attrs)
        self.names[node.output[0]] = self.builder.current
        self.builder.name(self.builder.current, node.name or node.output[0])
        return None

    def conv(self, node: Any, attrs: dict[str, Any]) -> None:
        b = self.builder
        pads, strides = attrs.get("pads", [0, 0, 0, 0]), attrs.get("strides", [1, 1])
        if set(attrs.get("dilations", [1, 1])) != {1} or len(set(pads)) > 1 or strides[0] != strides[1]:
            raise _reject(node, "needs dilation 1, equal symmetric pads and equal strides")
        if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise _reject(node, "auto_pad is not supported; use explicit pads")
        weight, bias = self.const(node, 1), self.const(node, 2)
        groups, cin = attrs.get("group", 1), b.shape[0]
        if groups != 1 and (groups != cin or weight.shape[0] != cin):
            raise _reject(node, "groups must be 1 or depthwise (groups = in = out channels)")
        b.conv(weight, bias if bias is not None else np.zeros(len(weight)), strides[0], pads[0], groups)
        self.attach_weights(node)

    def gemm(self, node: Any, attrs: dict[str, Any]) -> None:
        b = self.builder
        if attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0 or attrs.get("transA", 0):
            raise _reject(node, "needs alpha = beta = 1 and no transA")
        weight, bias = self.const(node, 1), self.const(node, 2)
        weight = weight if attrs.get("transB", 0) else weight.T
        if len(b.shape) != 1:
            b.reshape((int(np.prod(b.shape)),))
        b.dense(weight, bias if bias is not None else np.zeros(len(weight)))
        self.attach_weights(node, transpose=not attrs.get("transB", 0))

    def batch_norm(self, node: Any, attrs: dict[str, Any]) -> None:
        gamma, beta, mean, var = (self.const(node, i) for i in range(1, 5))
        scale = gamma / np.sqrt(var + attrs.get("epsilon", 1e-5))
        if not self.single_reader(node) or not self.builder.fold_affine(scale, beta - mean * scale):
            raise _reject(node, "batch norm must directly follow a Conv")

    def relu(self, node: Any, attrs: dict[str, Any]) -> None:
        kind = "relu"
        if node.op_type == "Clip":
            lo, hi = self.const(node, 1), self.const(node, 2)
            if lo is None or hi is None or float(lo) != 0 or float(hi) != 6:
                raise _reject(node, "only Clip(0, 6) (ReLU6)")
            kind = "relu6"
        self.builder.activation(kind, fuse=self.single_reader(node))

    def pool(self, node: Any, attrs: dict[str, Any]) -> None:
        k, s = attrs["kernel_shape"], attrs.get("strides", [1, 1])
        if any(attrs.get("pads", [0])) or attrs.get("ceil_mode", 0) or k[0] != k[1] or s[0] != s[1]:
            raise _reject(node, "needs square windows, equal strides, no pads, floor mode")
        if node.op_type == "MaxPool":
            self.builder.maxpool(k[0], s[0])
        else:
            self.builder.avgpool(k[0], k[1], s[0])

    def global_average_pool(self, node: Any, attrs: dict[str, Any]) -> None:
        _, h, w = self.builder.shape
        self.builder.avgpool(h, w, 1)

    def flatten(self, node: Any, attrs: dict[str, Any]) -> None:
        b = self.builder
        target = [int(d) for d in self.consts.get(node.input[-1], [0, -1])][1:]
        if node.op_type == "Reshape" and target not in ([-1], [int(np.prod(b.shape))]):
            raise _reject(node, "only flattening reshapes (to N x features)")
        b.reshape((int(np.prod(b.shape)),))

    def add(self, node: Any, attrs: dict[str, Any]) -> None:
        self.builder.add(self.tensor(node.input[0]), self.tensor(node.input[1]))

    def single_reader(self, node: Any) -> bool:
        """Whether the node's input has no other reader (so an activation may fuse into its producer)."""
        return self.consumers.get(self.resolve(node.input[0]), 0) <= 1

    def qdq(self, node: Any, attrs: dict[str, Any]) -> None:
        source = self.resolve(node.input[0])
        scale = self.consts[node.input[1]].astype(np.float64)
        zero = self.consts[node.input[2]].astype(np.int64) if len(node.input) > 2 else np.zeros(1, np.int64)
        if node.op_type == "DequantizeLinear" and source in self.consts:  # a quantized constant
            q = self.consts[source]
            self.consts[node.output[0]] = (q - _along_axis0(zero, q)) * _along_axis0(scale, q)
            if q.dtype == np.int8:
                if np.any(zero):
                    raise _reject(node, "int8 weights need zero point 0 (symmetric)")
                scales = np.broadcast_to(scale, (len(q),)).astype(np.float64)
                self.weights[node.output[0]] = (q, scales)
            return
        self.alias[node.output[0]] = source
        if node.op_type == "QuantizeLinear":
            if scale.size != 1:
                raise _reject(node, "activations need one scale per tensor")
            signed = len(node.input) > 2 and self.consts[node.input[2]].dtype == np.int8
            lo, hi = (-128, 127) if signed else (0, 255)
            s, z = float(scale), int(zero.reshape(-1)[0])
            implicit_relu = (lo - z) * s >= 0 and source in self.names  # the grid has no negatives
            if implicit_relu and unit(self.builder.producer(self.names[source]).kind).fusable:
                self.builder.current = self.names[source]
                self.names[source] = self.builder.activation("relu")
            self.scales[self.tensor(source)] = (s, z if signed else z - 128)

    def attach_weights(self, node: Any, transpose: bool = False) -> None:
        found = self.weights.get(self.resolve(node.input[1]))
        if found is not None:
            q, scales = found
            op = self.builder.ops[-1]
            op.arrays["weight_q"] = q.T.copy() if transpose else q
            op.arrays["weight_scale"] = scales if not transpose else np.full(q.shape[1], scales[0])


# ONNX operator -> the importer's method, which emits the unit (micro/ops) of the same name
OPERATORS = {
    "Conv": _Importer.conv, "Gemm": _Importer.gemm, "BatchNormalization": _Importer.batch_norm,
    "Relu": _Importer.relu, "Clip": _Importer.relu, "MaxPool": _Importer.pool, "AveragePool": _Importer.pool,
    "GlobalAveragePool": _Importer.global_average_pool, "Flatten": _Importer.flatten,
    "Reshape": _Importer.flatten, "Add": _Importer.add,
}


def _along_axis0(values: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Per-channel (axis 0) quantization parameters shaped to broadcast over ``like``."""
    return values.reshape((-1,) + (1,) * (like.ndim - 1)) if values.ndim else values


def import_onnx(path: Path, input_scale: float) -> tuple[Graph, dict[str, tuple[float, int]]]:
    """The float graph of an ONNX model and the activation scales and zero points its QDQ
    nodes give."""
    import onnx

    try:
        model = onnx.load(str(path))
    except Exception as exc:  # onnx raises several types for unreadable files
        raise InputError(f"micro: cannot read ONNX model '{path}': {exc}") from None
    try:
        return _Importer(model, input_scale).run()
    except InputError as exc:  # what is wrong, and in which file
        raise InputError(f"micro: '{path}': {exc.message.removeprefix('micro: ')}", hint=exc.hint) from None
    except Exception as exc:  # a readable protobuf whose values make no model
        raise InputError(f"micro: '{path}' is not a model heiti can import: "
                         f"{type(exc).__name__}: {exc}") from None
