"""ONNX helpers: checking files, reading IO specs, counting parameters and MACs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper, shape_inference

from heiti.core.iospec import IOSpec, TensorSpec
from heiti.errors import InputError


def load_checked(path: Path, given: str | None = None) -> onnx.ModelProto:
    """Load an ONNX file and run the official checker; a bad file is an input error."""
    shown = given or str(path)
    try:
        onnx.checker.check_model(str(path), full_check=False)
        return onnx.load(str(path))
    except (onnx.checker.ValidationError, onnx.onnx_cpp2py_export.shape_inference.InferenceError,
            ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"'{shown}' is not a valid ONNX model: {first}") from None
    except Exception as exc:  # protobuf's DecodeError and friends
        raise InputError(f"'{shown}' is not a valid ONNX model: {exc}") from None


def strip_debug_info(model: onnx.ModelProto) -> onnx.ModelProto:
    """Remove doc strings and per-node metadata (exporter stack traces, source paths): they
    are debugging aids that inflate small models and leak local file names."""
    model.doc_string = ""
    for node in model.graph.node:
        node.doc_string = ""
        del node.metadata_props[:]
    return model


def numpy_dtype(elem_type: int) -> str:
    return str(helper.tensor_dtype_to_np_dtype(elem_type))


def _tensor_spec(value: onnx.ValueInfoProto) -> TensorSpec:
    tensor = value.type.tensor_type
    shape = [d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim]
    return TensorSpec(name=value.name, shape=shape, dtype=numpy_dtype(tensor.elem_type))


def iospec(model: onnx.ModelProto, class_names: list[str] | None = None) -> IOSpec:
    initializers = {i.name for i in model.graph.initializer}
    return IOSpec(
        inputs=[_tensor_spec(v) for v in model.graph.input if v.name not in initializers],
        outputs=[_tensor_spec(v) for v in model.graph.output],
        class_names=class_names,
    )


def parameter_count(model: onnx.ModelProto) -> int:
    """Elements of weight tensors; scalar constants (scales, zero points) are not parameters."""
    total = 0
    for init in model.graph.initializer:
        size = int(np.prod(init.dims)) if init.dims else 1
        if size > 1 and init.data_type != onnx.TensorProto.INT64:
            total += size
    return total


def mac_count(model: onnx.ModelProto) -> int:
    """Multiply-accumulates of Conv, Gemm and MatMul nodes for a batch of one."""
    model = _with_batch_one(model)
    inferred = shape_inference.infer_shapes(model)
    shapes: dict[str, list[int]] = {}
    for value in list(inferred.graph.value_info) + list(inferred.graph.output) + list(
        inferred.graph.input
    ):
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = [d.dim_value if d.HasField("dim_value") else 1 for d in dims]
    for init in inferred.graph.initializer:
        shapes[init.name] = list(init.dims)
    # QDQ models: a weight reaches Conv through DequantizeLinear; follow it back
    for node in inferred.graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in shapes:
            shapes.setdefault(node.output[0], shapes[node.input[0]])
    macs = 0
    for node in inferred.graph.node:
        try:
            macs += _node_macs(node, shapes)
        except (KeyError, IndexError):
            continue  # shape unknown: leave this node out rather than guess
    return macs


def _node_macs(node: onnx.NodeProto, shapes: dict[str, list[int]]) -> int:
    if node.op_type in ("Conv", "ConvInteger", "QLinearConv"):
        weight = node.input[3] if node.op_type == "QLinearConv" else node.input[1]
        out = shapes[node.output[0]]
        w = shapes[weight]
        return int(np.prod(out)) * int(np.prod(w[1:]))
    if node.op_type in ("Gemm", "MatMul", "MatMulInteger"):
        a, out = shapes[node.input[0]], shapes[node.output[0]]
        return int(np.prod(out)) * int(a[-1])
    return 0


def _with_batch_one(model: onnx.ModelProto) -> onnx.ModelProto:
    model_copy = onnx.ModelProto()
    model_copy.CopyFrom(model)
    for value in model_copy.graph.input:
        for dim in value.type.tensor_type.shape.dim:
            if not dim.HasField("dim_value"):
                dim.dim_value = 1
    return model_copy


def stats(path: Path) -> dict[str, Any]:
    model = onnx.load(str(path))
    return {
        "parameters": parameter_count(model),
        "macs": mac_count(model),
        "nodes": len(model.graph.node),
        "opset": max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0),
    }

