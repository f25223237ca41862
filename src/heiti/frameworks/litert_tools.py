"""LiteRT helpers: reading a ``.tflite`` file's tensors and (de)quantizing their values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from heiti.core.iospec import TensorSpec


def interpreter(path: Path, threads: int = 1) -> Any:
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_path=str(path), num_threads=threads or None)


def tensor_specs(path: Path) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Inputs and outputs of a ``.tflite`` file as heiti tensor specs."""
    model = interpreter(path)
    return ([_spec(d) for d in model.get_input_details()],
            [_spec(d) for d in model.get_output_details()])


def _spec(detail: dict[str, Any]) -> TensorSpec:
    scale, zero_point = detail["quantization"]
    quantized = bool(scale) and np.dtype(detail["dtype"]).kind in "iu"
    shape = [int(d) for d in detail.get("shape_signature", detail["shape"])]
    return TensorSpec(name=detail["name"], shape=shape, dtype=np.dtype(detail["dtype"]).name,
                      scale=float(scale) if quantized else None,
                      zero_point=int(zero_point) if quantized else None)


def quantize(x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Float values to the tensor's dtype with its scale and zero point (a no-op for floats,
    and for raw integers the host already quantized)."""
    dtype = np.dtype(detail["dtype"])
    scale, zero_point = detail["quantization"]
    if dtype.kind == "f" or not scale or np.asarray(x).dtype == dtype:
        return np.ascontiguousarray(x, dtype=dtype)
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale) + zero_point, info.min, info.max).astype(dtype)


def dequantize(y: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    scale, zero_point = detail["quantization"]
    if np.dtype(detail["dtype"]).kind == "f" or not scale:
        return y
    return (y.astype(np.float32) - zero_point) * np.float32(scale)
