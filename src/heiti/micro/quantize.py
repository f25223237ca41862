"""Float graph + activation ranges → integer graph, for the three scale schemes.

Post-training quantization calibrates the ranges on samples (``calibrate``);
quantization-aware training supplies the ranges it tracked. Both then call
``to_integer``, so PTQ, QAT and imported models share one set of rules.
"""

from __future__ import annotations

import math

import numpy as np

from heiti.errors import InputError
from heiti.micro.floatgraph import float_run_all
from heiti.micro.graph import Graph, Op, Tensor
from heiti.micro.ops import ALL_SCHEMES, TFLITE_SCHEMES, unit

SCHEMES = ALL_SCHEMES
BIAS_LIMIT = 2**30


def pow2_frac(max_abs: float) -> int:
    """Fraction bits ``f`` of the finest power-of-two scale ``2^-f`` that holds ``max_abs``."""
    if not max_abs > 0:
        return 0
    return int(np.clip(math.floor(math.log2(127.0 / max_abs)), -16, 24))


def activation_scale(max_abs: float, scheme: str) -> float:
    if scheme == "pow2":
        return 2.0 ** -pow2_frac(max_abs)
    return max_abs / 127.0 if max_abs > 0 else 1.0


def weight_scales(weight: np.ndarray, scheme: str) -> np.ndarray:
    """One scale per output channel (the same for all channels in the pow2 scheme)."""
    per_channel = np.abs(weight.reshape(len(weight), -1)).max(axis=1)
    if scheme == "pow2":
        return np.full(len(weight), 2.0 ** -pow2_frac(float(per_channel.max())))
    return np.where(per_channel > 0, per_channel / 127.0, 1.0)


def quantize_weight(weight: np.ndarray, scales: np.ndarray) -> np.ndarray:
    shaped = scales.reshape((-1,) + (1,) * (weight.ndim - 1))
    return np.clip(np.rint(weight / shaped), -127, 127).astype(np.int8)


def quantize_bias(bias: np.ndarray, scales: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(bias / scales), -BIAS_LIMIT, BIAS_LIMIT).astype(np.int32)


def fixed_point(m: float) -> tuple[int, int]:
    """``(M, n)`` with ``M * 2^-n`` = ``m``: exact (M = 1) for powers of two, else Q31."""
    mantissa, exponent = math.frexp(m)
    if mantissa == 0.5:
        return 1, 1 - exponent
    mult = round(mantissa * 2**31)
    if mult == 2**31:
        mult, exponent = 2**30, exponent + 1
    shift = 31 - exponent
    if shift > 62:  # factor below 2^-31: the product rounds to (almost) nothing
        mult, shift = mult >> min(shift - 62, 31), 62
    if shift < 0:
        raise InputError(f"micro: rescaling factor {m:g} is too large for the int8 kernels")
    return mult, shift


def quantize_multiplier(m: float, single: bool = False) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier as ``(M, n)`` with ``M * 2^-n`` = ``m`` (``n = 31 - e`` for
    TFLite's exponent ``e``): ``M = round_half_away(frac(m) * 2^31)``, ``2^31`` becomes ``2^30``
    with ``e + 1``, factors below ``2^-31`` become 0; powers of two keep ``M = 2^30``."""
    if m == 0:
        return 0, 31
    mantissa, exponent = math.frexp(m)
    mult = math.floor(mantissa * 2**31 + 0.5)  # exact: mantissa * 2^31 is a double
    if mult == 2**31:
        mult, exponent = mult // 2, exponent + 1
    if exponent < -31:
        mult, exponent = 0, 0
    if single and exponent > 30:  # TFLITE_SINGLE_ROUNDING saturates the multiplier
        mult, exponent = 2**31 - 1, 30
    if exponent > 31:
        raise InputError(f"micro: rescaling factor {m:g} is too large for the int8 kernels")
    return mult, 31 - exponent


def requant_arrays(factors: np.ndarray, scheme: str = "per-channel") -> dict[str, np.ndarray]:
    if scheme in TFLITE_SCHEMES:
        pairs = [quantize_multiplier(float(m), scheme == "tflite-single") for m in factors]
    else:
        pairs = [fixed_point(float(m)) for m in factors]
    return {"mult": np.array([p[0] for p in pairs], dtype=np.int32),
            "shift": np.array([p[1] for p in pairs], dtype=np.int32)}


def asymmetric_params(lo: float, hi: float) -> tuple[float, int]:
    """TFLite's int8 activation quantization of a range: scale and zero point, with 0 exact."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi == lo:
        return 1.0, 0
    scale = (hi - lo) / 255.0
    return scale, int(np.clip(round(-128 - lo / scale), -128, 127))


def tflite_clamps(act: str | None, scale: float, zero_point: int) -> dict[str, int]:
    """TFLite's CalculateActivationRangeQuantized: fused activations as int8 clamps."""
    lo, hi = -128, 127
    if act in ("relu", "relu6"):
        lo = max(lo, zero_point)
    if act == "relu6":
        hi = min(hi, zero_point + int(np.floor(6.0 / scale + 0.5)))
    return {"act_min": lo, "act_max": hi}


def mean_multiplier(mult: int, shift: int, count: int) -> tuple[int, int]:
    """TFLite's QuantizedMeanOrSum: the input/output multiplier with ``1/count`` folded in."""
    exponent = 31 - shift
    bits = min(count.bit_length() - 1, 32, 31 + exponent)
    return (mult << bits) // count, shift + bits


def clamps(act: str | None, scale: float) -> dict[str, int]:
    if act == "relu":
        return {"act_min": 0, "act_max": 127}
    if act == "relu6":
        return {"act_min": 0, "act_max": int(min(127, round(6.0 / scale)))}
    return {"act_min": -128, "act_max": 127}


def calibrate(graph: Graph, x: np.ndarray, batch: int = 256) -> dict[str, float]:
    """Largest absolute value of every tensor over the calibration inputs."""
    return {name: max(-lo, hi) for name, (lo, hi) in calibrate_bounds(graph, x, batch).items()}


def calibrate_bounds(graph: Graph, x: np.ndarray, batch: int = 256) -> dict[str, tuple[float, float]]:
    """Smallest and largest value of every tensor over the calibration inputs."""
    bounds: dict[str, tuple[float, float]] = {}
    for start in range(0, len(x), batch):
        for name, value in float_run_all(graph, x[start : start + batch]).items():
            lo, hi = bounds.get(name, (0.0, 0.0))
            bounds[name] = (min(lo, float(value.min())), max(hi, float(value.max())))
    return bounds


def calibrate_for(graph: Graph, x: np.ndarray, scheme: str) -> dict:
    """The ranges ``to_integer`` needs: bounds for the asymmetric tflite scheme, else magnitudes."""
    return calibrate_bounds(graph, x) if scheme in TFLITE_SCHEMES else calibrate(graph, x)


def to_integer(graph: Graph, ranges: dict[str, float], scheme: str,
               given: dict[str, float] | None = None) -> Graph:
    """The integer graph of a float graph, with activation scales from ``ranges`` or,
    for imported QDQ models, ``given`` scales (and int8 weights in the float ops)."""
    if scheme not in SCHEMES:
        raise InputError(f"micro: unknown scale scheme '{scheme}' (supported: {', '.join(SCHEMES)})")
    if scheme in TFLITE_SCHEMES:
        return _to_tflite(graph, ranges, given or {}, scheme)
    scales: dict[str, float] = {}
    tensors = {graph.input: graph.tensors[graph.input]}
    ops: list[Op] = []
    for op in graph.ops:
        rules = unit(op.kind)
        if scheme not in rules.schemes:
            raise InputError(f"micro: operator '{op.kind}' has no integer kernel in the {scheme} scheme "
                             f"(it has in: {', '.join(rules.schemes)})")
        if rules.keeps_scale:
            scales[op.output] = scales[op.inputs[0]]
        elif given and op.output in given:
            scales[op.output] = given[op.output]
        else:
            scales[op.output] = activation_scale(ranges[op.output], scheme)
        ops.append(rules.quantize(op, graph, scales, scheme))
        t = graph.tensors[op.output]
        tensors[op.output] = Tensor(t.name, t.shape, scales[op.output])
    return Graph(tensors, ops, graph.input, graph.output, scheme, graph.input_scale, dict(graph.info),
                 list(graph.extra_outputs))


def _bounds(value: float | tuple[float, float], act: str | None) -> tuple[float, float]:
    """A calibrated range (bounds, or a magnitude from QAT) narrowed by a fused activation."""
    lo, hi = value if isinstance(value, tuple | list) else (-value, value)
    if act in ("relu", "relu6"):
        lo = 0.0
    return lo, (min(hi, 6.0) if act == "relu6" else hi)


def _to_tflite(graph: Graph, ranges: dict, given: dict[str, tuple[float, int]], scheme: str) -> Graph:
    """The tflite scheme: asymmetric activations (scale and zero point per tensor),
    per-channel symmetric weights and TFLite's requantization (docs/micro.md)."""
    params: dict[str, tuple[float, int]] = {}
    tensors = {graph.input: graph.tensors[graph.input]}
    ops: list[Op] = []
    known = set(ranges) | set(given)
    for op in graph.ops:
        rules = unit(op.kind)
        if scheme not in rules.schemes:
            raise InputError(f"micro: operator '{op.kind}' has no integer kernel in the {scheme} scheme")
        if rules.output_grid(op) is not None:
            params[op.output] = rules.output_grid(op)
        elif not rules.own_grid_tflite(op, known):
            params[op.output] = params[op.inputs[0]]
        elif op.output in given:
            params[op.output] = given[op.output]
        else:
            params[op.output] = asymmetric_params(*_bounds(ranges[op.output], op.attrs.get("act")))
        ops.append(rules.quantize_tflite(op, graph, params, scheme))
        t = graph.tensors[op.output]
        tensors[op.output] = Tensor(t.name, t.shape, params[op.output][0], zero_point=params[op.output][1])
    return Graph(tensors, ops, graph.input, graph.output, scheme, graph.input_scale, dict(graph.info),
                 list(graph.extra_outputs))


def signed_input_scale(x: np.ndarray) -> float:
    """The power-of-two ``s`` with dataset values = raw int8 * s that holds the largest magnitude."""
    return 2.0 ** -pow2_frac(float(np.abs(np.asarray(x, dtype=np.float64)).max()))


def detect_input_scale(x: np.ndarray) -> float:
    """The ``s`` with dataset values = raw uint8 * s: ``2^-k`` when values are exact
    multiples of it (k = 0..8), else 1/255 for data in [0, 1]."""
    x = np.asarray(x, dtype=np.float64)
    if x.min() < 0:
        raise InputError("micro: inputs are negative, so they are not raw uint8 values times a scale",
                         hint="set the optimizer's 'input_scale' (dataset value = raw uint8 * input_scale)")
    for k in range(9):
        scaled = x * 2**k
        if np.all(scaled == np.rint(scaled)) and scaled.max() <= 255:
            return 2.0**-k
    if x.max() <= 1.0:
        return 1.0 / 255.0
    raise InputError("micro: cannot tell how inputs map to raw uint8 values",
                     hint="set the optimizer's 'input_scale' (dataset value = raw uint8 * input_scale)")
