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
from heiti.micro.graph import TFLITE_SCHEMES, Graph, Op, Tensor

SCHEMES = ("pow2", "per-channel", *TFLITE_SCHEMES)
PASS_THROUGH = ("maxpool", "avgpool", "reshape", "clamp")  # output keeps the input's scale
TFLITE_PASS_THROUGH = ("maxpool", "reshape", "clamp")  # tflite: average pooling has its own scale
ADD_LEFT_SHIFT = 20  # TFLite's ADD scales int8 inputs by 2^20 before rescaling them
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


def _requant_arrays(factors: np.ndarray, scheme: str = "per-channel") -> dict[str, np.ndarray]:
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


def tflite_add_arrays(scale_a: float, scale_b: float, scale_out: float,
                      scheme: str = "tflite") -> dict[str, np.ndarray]:
    """TFLite's ADD multipliers: each input to ``2 max(s_a, s_b) / 2^20``, the sum to the output."""
    twice_max = 2.0 * max(scale_a, scale_b)
    factors = [scale_a / twice_max, scale_b / twice_max,
               twice_max / ((1 << ADD_LEFT_SHIFT) * scale_out)]
    return _requant_arrays(np.array(factors), scheme)


def mean_multiplier(mult: int, shift: int, count: int) -> tuple[int, int]:
    """TFLite's QuantizedMeanOrSum: the input/output multiplier with ``1/count`` folded in."""
    exponent = 31 - shift
    bits = min(count.bit_length() - 1, 32, 31 + exponent)
    return (mult << bits) // count, shift + bits


def _clamps(act: str | None, scale: float) -> dict[str, int]:
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
    for op in graph.ops:
        act = op.attrs.get("act")
        if op.kind in TFLITE_PASS_THROUGH or (op.kind == "avgpool" and op.output not in ranges | given):
            params[op.output] = params[op.inputs[0]]
        elif op.output in given:
            params[op.output] = given[op.output]
        else:
            params[op.output] = asymmetric_params(*_bounds(ranges[op.output], act))
        ops.append(_tflite_op(op, graph, params, scheme))
        t = graph.tensors[op.output]
        tensors[op.output] = Tensor(t.name, t.shape, params[op.output][0], zero_point=params[op.output][1])
    return Graph(tensors, ops, graph.input, graph.output, scheme, graph.input_scale, dict(graph.info))


def _tflite_op(op: Op, graph: Graph, params: dict[str, tuple[float, int]], scheme: str) -> Op:
    attrs = {k: v for k, v in op.attrs.items() if k != "act"}
    act = op.attrs.get("act")
    s_out, z_out = params[op.output]
    s_in, z_in = params.get(op.inputs[0], (graph.input_scale, 0))
    zps = {"in_zp": z_in, "out_zp": z_out}
    if op.kind == "preprocess":
        arrays = {"mean": op.arrays["mean"]} | _requant_arrays(np.array([graph.input_scale / s_out]))
        return Op(op.kind, op.inputs, op.output, attrs | {"out_zp": z_out}, arrays)
    if op.kind in ("conv2d", "dense"):
        weight = op.arrays["weight"]
        if int(np.prod(weight.shape[1:])) > MAX_FAN_IN:
            raise InputError(f"micro: {op.kind} with fan-in {int(np.prod(weight.shape[1:]))} is not "
                             f"supported (at most {MAX_FAN_IN} inputs per output)")
        if "weight_q" in op.arrays:  # imported int8 weights: kept exactly
            w_scales, w_q = op.arrays["weight_scale"], op.arrays["weight_q"]
        else:
            w_scales = weight_scales(weight, "tflite")
            w_q = quantize_weight(weight, w_scales)
        bias = op.arrays.get("bias_q")
        if bias is None:
            bias = np.clip(np.rint(op.arrays["bias"] / (s_in * w_scales)), -(2**31), 2**31 - 1)
        arrays = {"weight": w_q, "bias": bias.astype(np.int32)}
        arrays |= _requant_arrays(np.array([s_in * float(w) / s_out for w in w_scales]), scheme)
        return Op(op.kind, op.inputs, op.output, attrs | zps | tflite_clamps(act, s_out, z_out), arrays)
    if op.kind == "add":
        (s_a, z_a), (s_b, z_b) = (params[name] for name in op.inputs)
        return Op(op.kind, op.inputs, op.output,
                  attrs | {"in_zp": [z_a, z_b], "out_zp": z_out, "left_shift": ADD_LEFT_SHIFT}
                  | tflite_clamps(act, s_out, z_out), tflite_add_arrays(s_a, s_b, s_out, scheme))
    if op.kind == "avgpool":
        count = op.attrs["kh"] * op.attrs["kw"]
        if (s_in, z_in) == (s_out, z_out):
            return Op(op.kind, op.inputs, op.output, attrs | {"mode": "round"}, {})
        arrays = _requant_arrays(np.array([s_in / (s_out * count)]), scheme)
        return Op(op.kind, op.inputs, op.output, attrs | zps | {"mode": "requant"}, arrays)
    if op.kind == "clamp":
        return Op(op.kind, op.inputs, op.output, attrs | tflite_clamps(act, s_out, z_out), {})
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
