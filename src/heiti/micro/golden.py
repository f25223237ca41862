"""The golden model: an exact integer interpreter of the graph (docs/micro.md).

The operator definitions are written once, on integer arrays that may be NumPy
arrays or PyTorch tensors: a backend supplies only the three window primitives
(convolution sums, max and sum pooling). The NumPy backend below computes in int64;
the PyTorch backend (``torch_backend.py``) lets quantization-aware training evaluate
the very same integers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from heiti.micro.graph import TFLITE_SCHEMES, Graph, Op


def scale_round(acc: Any, mult: Any, shift: Any) -> Any:
    """``round_half_away(acc * mult * 2^-shift)`` on int64 arrays (``mult`` None: 1)."""
    p = acc if mult is None else acc * mult
    one = shift * 0 + 1
    right = shift.clip(0, None)
    p = p << (-shift).clip(0, None)
    half = (one << right) >> 1
    return ((abs(p) + half) >> right) * (1 - 2 * (p < 0))


def requantize(acc: Any, mult: Any, shift: Any, lo: int = -128, hi: int = 127) -> Any:
    """``clamp(round_half_away(acc * mult * 2^-shift), lo, hi)`` on int64 arrays
    (``mult`` None: 1)."""
    return scale_round(acc, mult, shift).clip(max(lo, -128), min(hi, 127))


def divide_round(total: Any, count: int) -> Any:
    """``total / count`` rounded half away from zero (average pooling)."""
    return ((abs(total) + count // 2) // count) * (1 - 2 * (total < 0))


def tflite_multiply(acc: Any, mult: Any, shift: Any) -> Any:
    """TFLite's MultiplyByQuantizedMultiplier (double rounding) for the factor ``M * 2^-n``:
    with ``e = 31 - n``, shift left by ``max(e, 0)``, SaturatingRoundingDoublingHighMul
    (``floor((x * M + 2^30) / 2^31)``, i.e. half up), then RoundingDivideByPOT by
    ``max(-e, 0)`` (half away from zero)."""
    exponent = 31 - shift
    x = acc << exponent.clip(0, None)
    high = (x * mult + (1 << 30)) >> 31  # arithmetic shift: floor
    right = (-exponent).clip(0, None)
    half = ((right * 0 + 1) << right) >> 1
    return ((abs(high) + half) >> right) * (1 - 2 * (high < 0))


def tflite_multiply_single(acc: Any, mult: Any, shift: Any) -> Any:
    """The same built with TFLITE_SINGLE_ROUNDING: ``floor((acc * M + 2^(n-1)) / 2^n)``, one
    rounding, half up."""
    return (acc * mult + ((shift * 0 + 1) << (shift - 1))) >> shift


def tflite_requantize(acc: Any, mult: Any, shift: Any, zero_point: int, lo: int, hi: int,
                      single: bool = False) -> Any:
    """``clamp(zero_point + MultiplyByQuantizedMultiplier(acc, M, e), lo, hi)``."""
    scaled = (tflite_multiply_single if single else tflite_multiply)(acc, mult, shift)
    return (scaled + zero_point).clip(max(lo, -128), min(hi, 127))


class NumpyBackend:
    """Exact int64 window primitives in NumPy."""

    @staticmethod
    def asarray(array: np.ndarray) -> np.ndarray:
        return np.asarray(array, dtype=np.int64)

    @staticmethod
    def conv_sums(x: np.ndarray, weight: np.ndarray, stride: int, pad: int, groups: int) -> np.ndarray:
        n, cin = x.shape[:2]
        cout, cg, kh, kw = weight.shape
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        windows = sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
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


def _channel(array: Any, x: Any) -> Any:
    """A per-channel vector shaped to broadcast over ``x`` (N, C, ...)."""
    return array.reshape((1, -1) + (1,) * (x.ndim - 2))


def _run_tflite(op: Op, inputs: list[Any], backend: Any, single: bool) -> Any:
    """The ``tflite`` schemes: zero points, TFLite's requantization (double rounding, or
    single with ``single``) and operators."""
    a = op.attrs
    multiply = tflite_multiply_single if single else tflite_multiply
    arr = {k: backend.asarray(v) for k, v in op.arrays.items()}
    x = inputs[0]
    zi, zo = a.get("in_zp", 0), a.get("out_zp", 0)
    if op.kind == "preprocess":  # the device's input quantization: rounding half away, once
        centred = x - _channel(arr["mean"], x)
        return (scale_round(centred, arr["mult"], arr["shift"]) + zo).clip(-128, 127)
    if op.kind == "conv2d":
        acc = backend.conv_sums(x - zi, arr["weight"], a["stride"], a["pad"], a["groups"])
        acc = acc + _channel(arr["bias"], x)
        return tflite_requantize(acc, _channel(arr["mult"], x), _channel(arr["shift"], x), zo,
                                 a["act_min"], a["act_max"], single)
    if op.kind == "dense":
        flat = x.reshape(x.shape[0], -1) - zi
        acc = backend.conv_sums(flat.reshape(*flat.shape, 1, 1), arr["weight"][:, :, None, None], 1, 0, 1)
        acc = acc.reshape(flat.shape[0], -1) + arr["bias"]
        return tflite_requantize(acc, arr["mult"], arr["shift"], zo, a["act_min"], a["act_max"], single)
    if op.kind == "avgpool":
        count = a["kh"] * a["kw"]
        total = backend.sum_pool(x, a["kh"], a["kw"], a["stride"])
        mode = a.get("mode", "round")
        if mode == "requant":  # own output scale: (sum - count * zp_in) rescaled
            out = tflite_requantize(total - count * zi, arr["mult"], arr["shift"], zo, -128, 127, single)
        else:
            out = divide_round(total, count)
        return out.clip(a.get("act_min", -128), a.get("act_max", 127))
    if op.kind == "maxpool":
        out = backend.max_pool(x, a["kernel"], a["stride"])
        return out.clip(a.get("act_min", -128), a.get("act_max", 127))
    if op.kind == "add":  # TFLite's ADD: both inputs to 2^20 x a common scale, summed, rescaled
        m, n = arr["mult"], arr["shift"]
        left = 1 << a.get("left_shift", 20)
        za, zb = a["in_zp"]
        total = multiply((x - za) * left, m[0], n[0]) + multiply((inputs[1] - zb) * left, m[1], n[1])
        return tflite_requantize(total, m[2], n[2], zo, a["act_min"], a["act_max"], single)
    return _run_common(op, x)


def _run_common(op: Op, x: Any) -> Any:
    """The operators every scheme shares."""
    if op.kind == "clamp":
        return x.clip(op.attrs["act_min"], op.attrs["act_max"])
    if op.kind == "reshape":
        return x.reshape(x.shape[0], *op.attrs["shape"])
    raise ValueError(f"unknown operator '{op.kind}'")


def run_op(op: Op, inputs: list[Any], backend: Any, scheme: str = "pow2") -> Any:
    if scheme in TFLITE_SCHEMES:
        return _run_tflite(op, inputs, backend, scheme == "tflite-single")
    a = op.attrs
    arr = {k: backend.asarray(v) for k, v in op.arrays.items()}
    x = inputs[0]
    if op.kind == "preprocess":
        centred = x - _channel(arr["mean"], x)
        return requantize(centred, arr["mult"], arr["shift"])
    if op.kind == "conv2d":
        acc = backend.conv_sums(x, arr["weight"], a["stride"], a["pad"], a["groups"])
        acc = acc + _channel(arr["bias"], x)
        mult = _channel(arr["mult"], x) if "mult" in arr else None  # pow2: shifts only
        shift = _channel(arr["shift"], x)
        return requantize(acc, mult, shift, a["act_min"], a["act_max"])
    if op.kind == "dense":
        flat = x.reshape(x.shape[0], -1)
        acc = backend.conv_sums(flat.reshape(*flat.shape, 1, 1), arr["weight"][:, :, None, None], 1, 0, 1)
        acc = acc.reshape(flat.shape[0], -1) + arr["bias"]
        return requantize(acc, arr.get("mult"), arr["shift"], a["act_min"], a["act_max"])
    if op.kind == "maxpool":
        return backend.max_pool(x, a["kernel"], a["stride"])
    if op.kind == "avgpool":
        return divide_round(backend.sum_pool(x, a["kh"], a["kw"], a["stride"]), a["kh"] * a["kw"])
    if op.kind == "add":
        p = x * arr["mult_a"] + inputs[1] * arr["mult_b"]
        return requantize(p, None, arr["shift"], a["act_min"], a["act_max"])
    return _run_common(op, x)


def run_all(graph: Graph, raw: Any, backend: Any = NumpyBackend) -> dict[str, Any]:
    """Every tensor's value (int64) for a batch of raw uint8 inputs."""
    values = {graph.input: backend.asarray(raw)}
    for op in graph.ops:
        values[op.output] = run_op(op, [values[name] for name in op.inputs], backend, graph.scheme)
    return values


def run(graph: Graph, raw: Any, backend: Any = NumpyBackend) -> Any:
    """The graph's int8 outputs (as int64) for a batch of raw uint8 inputs."""
    return run_all(graph, raw, backend)[graph.output]


def predict(graph: Graph, raw: np.ndarray, batch: int = 256) -> np.ndarray:
    """int8 outputs of the golden model, batched to bound memory."""
    parts = [run(graph, raw[i : i + batch]) for i in range(0, len(raw), batch)]
    return np.concatenate(parts).astype(np.int8)
