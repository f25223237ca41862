"""Float graph + activation ranges → integer graph, for both scale schemes.

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

SCHEMES = ("pow2", "per-channel")
PASS_THROUGH = ("maxpool", "avgpool", "reshape", "clamp")  # output keeps the input's scale
MAX_FAN_IN = 65535  # 65535 * 128 * 128 + 2^30 (bias) < 2^31
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


def _requant_arrays(factors: np.ndarray) -> dict[str, np.ndarray]:
    pairs = [fixed_point(float(m)) for m in factors]
    return {"mult": np.array([p[0] for p in pairs], dtype=np.int32),
            "shift": np.array([p[1] for p in pairs], dtype=np.int32)}


def _clamps(act: str | None, scale: float) -> dict[str, int]:
    if act == "relu":
        return {"act_min": 0, "act_max": 127}
    if act == "relu6":
        return {"act_min": 0, "act_max": int(min(127, round(6.0 / scale)))}
    return {"act_min": -128, "act_max": 127}


def calibrate(graph: Graph, x: np.ndarray, batch: int = 256) -> dict[str, float]:
    """Largest absolute value of every tensor over the calibration inputs."""
    ranges: dict[str, float] = {}
    for start in range(0, len(x), batch):
        for name, value in float_run_all(graph, x[start : start + batch]).items():
            ranges[name] = max(ranges.get(name, 0.0), float(np.abs(value).max()))
    return ranges


def to_integer(graph: Graph, ranges: dict[str, float], scheme: str,
               given: dict[str, float] | None = None) -> Graph:
    """The integer graph of a float graph, with activation scales from ``ranges`` or,
    for imported QDQ models, ``given`` scales (and int8 weights in the float ops)."""
    if scheme not in SCHEMES:
        raise InputError(f"micro: unknown scale scheme '{scheme}' (supported: {', '.join(SCHEMES)})")
    scales: dict[str, float] = {}
    tensors = {graph.input: graph.tensors[graph.input]}
    ops: list[Op] = []
    for op in graph.ops:
        source = op.inputs[0]
        if op.kind in PASS_THROUGH:
            scales[op.output] = scales[source]
        elif given and op.output in given:
            scales[op.output] = given[op.output]
        else:
            scales[op.output] = activation_scale(ranges[op.output], scheme)
        out_scale = scales[op.output]
        ops.append(_integer_op(op, graph, scales, out_scale, scheme))
        t = graph.tensors[op.output]
        tensors[op.output] = Tensor(t.name, t.shape, out_scale)
    return Graph(tensors, ops, graph.input, graph.output, scheme, graph.input_scale, dict(graph.info))


def _integer_op(op: Op, graph: Graph, scales: dict[str, float], out_scale: float, scheme: str) -> Op:
    attrs = {k: v for k, v in op.attrs.items() if k != "act"}
    act = op.attrs.get("act")
    if op.kind == "preprocess":
        arrays = {"mean": op.arrays["mean"]} | _requant_arrays(np.array([graph.input_scale / out_scale]))
        return Op(op.kind, op.inputs, op.output, attrs, arrays)
    if op.kind in ("conv2d", "dense"):
        weight = op.arrays["weight"]
        fan_in = int(np.prod(weight.shape[1:]))
        if fan_in > MAX_FAN_IN:
            raise InputError(f"micro: {op.kind} with fan-in {fan_in} is not supported "
                             f"(at most {MAX_FAN_IN} inputs per output)")
        in_scale = scales[op.inputs[0]]
        if "weight_q" in op.arrays:  # imported int8 weights: kept exactly
            w_scales, w_q = op.arrays["weight_scale"], op.arrays["weight_q"]
        else:
            w_scales = weight_scales(weight, scheme)
            w_q = quantize_weight(weight, w_scales)
        arrays = {"weight": w_q,
                  "bias": quantize_bias(op.arrays["bias"], in_scale * w_scales)}
        arrays |= _requant_arrays(in_scale * w_scales / out_scale)
        if not np.any(arrays["mult"] != 1):
            del arrays["mult"]  # power-of-two: requantization is a shift, no multipliers stored
        return Op(op.kind, op.inputs, op.output, attrs | _clamps(act, out_scale), arrays)
    if op.kind == "add":
        ma, mb = (scales[name] / out_scale for name in op.inputs)
        if scheme == "pow2":
            shift = -min(round(math.log2(ma)), round(math.log2(mb)))
        else:
            shift = 30 - math.ceil(math.log2(max(ma, mb)))
        arrays = {"mult_a": np.array([round(ma * 2.0**shift)], dtype=np.int32),
                  "mult_b": np.array([round(mb * 2.0**shift)], dtype=np.int32),
                  "shift": np.array([shift], dtype=np.int32)}
        return Op(op.kind, op.inputs, op.output, attrs | _clamps(act, out_scale), arrays)
    if op.kind == "clamp":
        return Op(op.kind, op.inputs, op.output, attrs | _clamps(act, out_scale), {})
    return Op(op.kind, op.inputs, op.output, attrs, {})


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
