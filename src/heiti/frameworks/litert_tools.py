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

