"""The IO specification of a model: what goes in and what comes out.

A dimension of ``-1`` is dynamic (usually the batch). Quantized tensors carry
their scale and zero point so that a runtime on a target can (de)quantize.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, Field


class TensorSpec(BaseModel):
    name: str
    shape: list[int]
    dtype: str = "float32"
    scale: float | list[float] | None = None
    zero_point: int | list[int] | None = None

    def with_batch(self, batch: int) -> list[int]:
        return [batch if (i == 0 and d < 0) else d for i, d in enumerate(self.shape)]

    def matches(self, shape: tuple[int, ...], dtype: str) -> bool:
        if dtype != self.dtype or len(shape) != len(self.shape):
            return False
        return all(want < 0 or want == got for want, got in zip(self.shape, shape, strict=True))

    @property
    def raw_integers(self) -> bool:
        """True for a quantized tensor that travels as its integer values (q, real = q * scale)."""
        return self.dtype in ("int8", "uint8") and isinstance(self.scale, float)

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """Real values to the raw integers of a quantized input (integers and the inputs of
        float tensors pass unchanged)."""
        if not self.raw_integers or np.asarray(x).dtype.kind in "iu":
            return x
        info, (scale, zero_point) = np.iinfo(self.dtype), self._affine()
        raw = np.rint(np.asarray(x, dtype=np.float64) / scale) + zero_point
        return np.clip(raw, info.min, info.max).astype(self.dtype)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        """A quantized output's raw integers to real values (values a runtime already
        dequantized, and float tensors, pass unchanged)."""
        if not self.raw_integers or np.asarray(q).dtype.kind == "f":
            return q
        scale, zero_point = self._affine()
        return ((np.asarray(q, dtype=np.float64) - zero_point) * scale).astype(np.float32)

    def _affine(self) -> tuple[float, int]:
        """Per-tensor scale and zero point (``raw_integers`` guarantees a single scale)."""
        assert isinstance(self.scale, float)
        return self.scale, self.zero_point if isinstance(self.zero_point, int) else 0

    def describe(self) -> str:
        dims = "x".join("?" if d < 0 else str(d) for d in self.shape)
        return f"{self.name}: {self.dtype}[{dims}]"


class IOSpec(BaseModel):
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    class_names: list[str] | None = Field(
        default=None, description="labels of the classifier outputs, in output order"
    )
    postprocess: dict[str, Any] | None = Field(
        default=None, description="the model's post-processing after inference, outside the "
        "timed region: {type: NAME, parameters: {...}} (see heiti.postprocess)")

    def static_batch(self, batch: int) -> IOSpec:
        """A copy whose tensors have a fixed batch dimension (for compilers that need one)."""
        io = self.model_copy(deep=True)
        for spec in io.inputs + io.outputs:
            if spec.shape:
                spec.shape[0] = batch
        return io
