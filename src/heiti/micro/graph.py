"""The integer graph: tensors, operators in execution order, and its file format.

A graph file (format ``micro-int8``) is one ``.npz``: every operator's arrays under
``op<i>.<key>`` plus the structure as JSON bytes under ``graph``. It is loaded with
``allow_pickle=False``, so a graph from a stranger cannot run code.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from heiti.core.files import write_atomic
from heiti.errors import InputError

FORMAT = "micro-int8"
VERSION = 1
@dataclass
class Tensor:
    name: str
    shape: tuple[int, ...]  # one sample, CHW or (features,)
    scale: float
    dtype: str = "int8"
    zero_point: int = 0  # real value = (q - zero_point) * scale; 0 except in the tflite scheme

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


@dataclass
class Op:
    kind: str
    inputs: list[str]
    output: str
    attrs: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class Graph:
    tensors: dict[str, Tensor]
    ops: list[Op]
    input: str
    output: str
    scheme: str  # "pow2", "per-channel", "tflite" or "tflite-single"
    input_scale: float  # dataset value = (raw - input zero point) * input_scale
    info: dict[str, Any] = field(default_factory=dict)
    extra_outputs: list[str] = field(default_factory=list)  # a model's further outputs, after ``output``
    extra_inputs: list[str] = field(default_factory=list)  # a model's further inputs, after ``input``

    @property
    def inputs(self) -> list[str]:
        """Every input tensor, in the model's order: the device reads them one after the other
        from its input buffer (each with its own dtype, scale and zero point)."""
        return [self.input, *self.extra_inputs]

    @property
    def input_size(self) -> int:
        """Bytes of all inputs together (the device's input buffer)."""
        return sum(self.tensors[name].size for name in self.inputs)

    def input_offset(self, name: str) -> int:
        """Where input ``name`` starts in the device's input buffer."""
        at = self.inputs.index(name)
        return sum(self.tensors[other].size for other in self.inputs[:at])

    @property
    def outputs(self) -> list[str]:
        """Every output tensor, in the model's order: the device writes them one after the other
        into its output buffer."""
        return [self.output, *self.extra_outputs]

    @property
    def output_size(self) -> int:
        """int8 values of all outputs together (the device's output buffer)."""
        return sum(self.tensors[name].size for name in self.outputs)

    def split_outputs(self, flat: np.ndarray) -> list[np.ndarray]:
        """A batch of output buffers (N, output_size) as one array per output, shaped (N, *shape)."""
        sizes = [self.tensors[name].size for name in self.outputs]
        parts = np.split(np.asarray(flat).reshape(len(flat), -1), np.cumsum(sizes)[:-1], axis=1)
        return [part.reshape(len(flat), *self.tensors[name].shape)
                for part, name in zip(parts, self.outputs, strict=True)]

    @property
    def output_scale(self) -> float:
        return self.tensors[self.output].scale

    @property
    def output_zero_point(self) -> int:
        return self.tensors[self.output].zero_point

    def quantize_input(self, x: np.ndarray, name: str | None = None) -> np.ndarray:
        """Dataset values to the raw integers the device reads: the input tensor's dtype (uint8
        for heiti's own graphs, the model's int8 or uint8 for imports) and zero point (``name``:
        a further input of a model with several, on its own grid)."""
        t = self.tensors[name or self.input]
        scale = self.input_scale if t.name == self.input else t.scale
        info = np.iinfo(t.dtype)
        raw = np.rint(np.asarray(x, dtype=np.float64) / scale) + t.zero_point
        return np.clip(raw, info.min, info.max).astype(t.dtype)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        """The graph output's real values (float32) from its int8 values."""
        real = (np.asarray(q, dtype=np.float64) - self.output_zero_point) * self.output_scale
        return real.astype(np.float32)

    def weight_bytes(self) -> int:
        """Bytes of constant data: weights, biases, multipliers, shifts, means."""
        return sum(a.nbytes for op in self.ops for a in op.arrays.values())

    def save(self, path: Path) -> None:
        structure = {
            "format": FORMAT, "version": VERSION, "input": self.input, "output": self.output,
            "scheme": self.scheme, "input_scale": self.input_scale, "info": self.info,
            "extra_outputs": self.extra_outputs, "extra_inputs": self.extra_inputs,
            "tensors": [{"name": t.name, "shape": list(t.shape), "scale": t.scale, "dtype": t.dtype,
                         "zero_point": t.zero_point} for t in self.tensors.values()],
            "ops": [{"kind": op.kind, "inputs": op.inputs, "output": op.output, "attrs": op.attrs,
                     "arrays": sorted(op.arrays)} for op in self.ops],
        }
        arrays = {f"op{i}.{k}": v for i, op in enumerate(self.ops) for k, v in op.arrays.items()}
        arrays["graph"] = np.frombuffer(json.dumps(structure).encode(), dtype=np.uint8)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        write_atomic(path, buffer.getvalue())

    @classmethod
    def load(cls, path: Path) -> Graph:
        try:
            with np.load(path, allow_pickle=False) as data:
                structure = json.loads(bytes(data["graph"]).decode())
                arrays = {k: data[k] for k in data.files if k != "graph"}
            if structure.get("format") != FORMAT or structure.get("version") != VERSION:
                raise ValueError(f"format {FORMAT} version {VERSION} expected")
            tensors = {t["name"]: Tensor(t["name"], tuple(t["shape"]), t["scale"], t["dtype"],
                                         int(t.get("zero_point", 0))) for t in structure["tensors"]}
            ops = [Op(o["kind"], o["inputs"], o["output"], o["attrs"],
                      {k: arrays[f"op{i}.{k}"] for k in o["arrays"]})
                   for i, o in enumerate(structure["ops"])]
            graph = cls(tensors, ops, structure["input"], structure["output"], structure["scheme"],
                        structure["input_scale"], structure["info"], list(structure.get("extra_outputs", [])),
                        list(structure.get("extra_inputs", [])))
        except (OSError, ValueError, KeyError, TypeError, AttributeError, EOFError) as exc:
            raise InputError(f"'{path}' is not a {FORMAT} graph: {exc}") from None
        problem = graph.problem()
        if problem:
            raise InputError(f"'{path}' is not a valid {FORMAT} graph: {problem}")
        return graph

    def problem(self) -> str | None:
        """What is wrong with the structure (a file from elsewhere), or None."""
        from heiti.micro.ops import units

        known = set(self.inputs)
        found = units()
        for i, op in enumerate(self.ops):
            if op.kind not in found:
                return f"operator {i} '{op.kind}' is unknown (supported: {', '.join(sorted(found))})"
            arrays, attrs = found[op.kind].required(self.scheme)
            missing = [k for k in arrays if k not in op.arrays] + [k for k in attrs if k not in op.attrs]
            unknown_inputs = [name for name in op.inputs if name not in known]
            if missing or unknown_inputs or op.output not in self.tensors:
                return f"operator {i} '{op.kind}' lacks {missing or unknown_inputs or op.output}"
            known.add(op.output)
        missing = [name for name in self.outputs if name not in known]
        return f"output '{missing[0]}' is never computed" if missing else None


def input_buffer(raw: list[np.ndarray]) -> np.ndarray:
    """A batch of raw inputs (one array per input) as the device's input buffers: (N, bytes of
    every input, one after the other; int8 as its two's complement)."""
    parts = [np.ascontiguousarray(r).view(np.uint8).reshape(len(r), -1) for r in raw]
    return parts[0] if len(parts) == 1 else np.ascontiguousarray(np.concatenate(parts, axis=1))


def raw_input(x: np.ndarray, input_scale: float) -> np.ndarray:
    """Dataset values (``raw * input_scale``) back to the raw uint8 the device reads."""
    raw = np.rint(np.asarray(x, dtype=np.float64) / input_scale)
    return np.clip(raw, 0, 255).astype(np.uint8)
