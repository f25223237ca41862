"""Operators as units: one module per operator holds everything about it.

A unit (a subclass of ``Unit`` decorated with ``@register``) gives its operator's checks
(the arrays and attributes a graph file must carry), shape inference, float reference,
integer reference per scale scheme (the golden model), quantization (PTQ, and the float
forward pass that QAT fake-quantizes), MAC and weight counts and the C it emits. The graph,
the float graph, the golden model, quantization, QAT, the code generator, the MAC table
and AutoML's platform rules look operators up here; importers map their own operator
names to units in one table each. The modules of this package are imported on the first
lookup, so a unit defined anywhere else (a test, a plug-in) registers the same way.
docs/micro.md, "Adding an operator".
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from heiti.errors import InputError

if TYPE_CHECKING:
    from heiti.micro.codegen import Emit
    from heiti.micro.graph import Graph, Op

HEITI_SCHEMES = ("pow2", "per-channel")
TFLITE_SCHEMES = ("tflite", "tflite-single")  # TFLite's double rounding, or TFLITE_SINGLE_ROUNDING
ALL_SCHEMES = (*HEITI_SCHEMES, *TFLITE_SCHEMES)

_UNITS: dict[str, Unit] = {}
_loaded = False


class Unit:
    """One operator. Defaults describe an operator without weights whose output keeps its
    input's quantization; override what differs."""

    kind: ClassVar[str] = ""
    arrays: ClassVar[tuple[str, ...]] = ()  # arrays a graph file must carry (heiti schemes)
    attrs: ClassVar[tuple[str, ...]] = ()  # attributes a graph file must carry (heiti schemes)
    tflite_arrays: ClassVar[tuple[str, ...] | None] = None  # None: the same as ``arrays``
    tflite_attrs: ClassVar[tuple[str, ...] | None] = None
    schemes: ClassVar[tuple[str, ...]] = ALL_SCHEMES  # scale schemes it has integer semantics in
    keeps_scale: ClassVar[bool] = True  # output on its input's grid (no requantization)
    fusable: ClassVar[bool] = False  # a following ReLU/ReLU6 fuses into it
    weighted: ClassVar[bool] = False  # has int8 weights and an int32 bias (QAT trains them)
    in_place: ClassVar[str | None] = None  # "always" or "last-reader": shares its input's buffer
    c_files: ClassVar[tuple[str, ...]] = ()  # C kernel files in micro/c (DSP variants in c/dsp)
    c_dir: ClassVar[Any] = None  # where c_files are when not in micro/c (a Path: a unit from elsewhere)
    platform_layer: ClassVar[bool] = True  # a layer AutoML's platform rules check (False: folds away)

    # --- checks and shapes -------------------------------------------------------------------
    def required(self, scheme: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(arrays, attributes) an operator of this kind needs in ``scheme``."""
        if scheme in TFLITE_SCHEMES:
            return (self.arrays if self.tflite_arrays is None else self.tflite_arrays,
                    self.attrs if self.tflite_attrs is None else self.tflite_attrs)
        return self.arrays, self.attrs

    def infer_shape(self, shapes: list[tuple[int, ...]], attrs: dict[str, Any],
                    arrays: dict[str, np.ndarray]) -> tuple[int, ...]:
        """The output shape (one sample, CHW) from the input shapes."""
        return shapes[0]

    # --- float and integer references --------------------------------------------------------
    def float_run(self, op: Op, inputs: list[np.ndarray], graph: Graph) -> np.ndarray:
        """The float reference on a batch (float64)."""
        raise NotImplementedError(f"'{self.kind}' has no float reference")

    def run(self, op: Op, inputs: list[Any], backend: Any, scheme: str) -> Any:
        """The integer reference (the golden model) on a batch of int64 arrays or tensors."""
        raise NotImplementedError(f"'{self.kind}' has no integer reference")

    # --- quantization ------------------------------------------------------------------------
    def quantize(self, op: Op, graph: Graph, scales: dict[str, float], scheme: str) -> Op:
        """The integer operator in the pow2 and per-channel schemes (``scales`` holds every
        tensor's scale, this output's included)."""
        return integer_op(op)

    def own_grid_tflite(self, op: Op, known: set[str]) -> bool:
        """Whether the output has its own scale and zero point in the tflite schemes (``known``:
        tensors whose quantization is calibrated or given)."""
        return not self.keeps_scale

    def output_grid(self, op: Op) -> tuple[float, int] | None:
        """A scale and zero point the output always has in the tflite schemes (e.g. softmax's)."""
        return None

    def quantize_tflite(self, op: Op, graph: Graph, params: dict[str, tuple[float, int]],
                        scheme: str) -> Op:
        """The integer operator in the tflite schemes (``params``: scale and zero point of
        every tensor, this output's included)."""
        return integer_op(op)

    def train_forward(self, op: Op, inputs: list[Any], graph: Graph, weight: Any = None,
                      bias: Any = None) -> Any:
        """The float forward pass on PyTorch tensors that QAT fake-quantizes (weighted units
        get their fake-quantized weight and bias)."""
        raise InputError(f"micro-qat: '{self.kind}' cannot be trained quantization-aware")

    def requantizes(self, op: Op) -> bool:
        """Whether the integer operator rescales to its own grid (the sensitivity report's layers)."""
        return not self.keeps_scale

    # --- costs and C -------------------------------------------------------------------------
    def macs(self, op: Op, graph: Graph) -> int:
        return 0

    def weights(self, op: Op) -> int:
        """Weight elements stored (biases and requantization constants aside): what AutoML's
        platform rules count at the platform's weight bits."""
        return int(op.arrays["weight"].size) if self.weighted else 0

    def describe(self, op: Op) -> dict[str, str]:
        """Extra columns of the layer table (e.g. the kernel)."""
        return {}

    def scratch(self, op: Op, graph: Graph) -> int:
        """int16 scratch elements the DSP kernels need."""
        return 0

    def emit_c(self, e: Emit) -> tuple[str, str]:
        """(declarations, statement) of the operator in the generated model.c."""
        raise NotImplementedError(f"'{self.kind}' emits no C")


def integer_op(op: Op, attrs: dict[str, Any] | None = None,
               arrays: dict[str, np.ndarray] | None = None) -> Op:
    """The integer operator of a float one: its attributes without the fused activation
    (``act``) plus ``attrs``, and ``arrays``."""
    from heiti.micro.graph import Op

    kept = {k: v for k, v in op.attrs.items() if k != "act"}
    return Op(op.kind, op.inputs, op.output, kept | (attrs or {}), arrays or {})


def register(cls: type[Unit]) -> type[Unit]:
    """Class decorator: make the unit's operator known (a later unit of the same kind replaces it)."""
    _UNITS[cls.kind] = cls()
    return cls


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{module.name}")


def units() -> dict[str, Unit]:
    """Every known operator by kind."""
    _load()
    return dict(_UNITS)


def unit(kind: str) -> Unit:
    """The unit of an operator kind; InputError naming the known ones when there is none."""
    _load()
    found = _UNITS.get(kind)
    if found is None:
        raise InputError(f"micro: operator '{kind}' is unknown (supported: {', '.join(sorted(_UNITS))})")
    return found


def apply_act(x: np.ndarray, act: str | None) -> np.ndarray:
    """A fused activation on float values (NumPy)."""
    if act == "relu":
        return np.maximum(x, 0)
    if act == "relu6":
        return np.clip(x, 0, 6)
    return x


def torch_act(v: Any, act: str | None) -> Any:
    """A fused activation on PyTorch tensors (QAT's forward pass)."""
    import torch
    import torch.nn.functional as F

    if act == "relu":
        return F.relu(v)
    if act == "relu6":
        return torch.clamp(v, 0, 6)
    return v
