"""softmax: TFLite's int8 SOFTMAX over a vector, bit for bit as TensorFlow Lite Micro's
reference kernel computes it (gemmlowp fixed point: the input differences to the row's
maximum scaled to Q5.26, exp of negative values in Q0.31, their sum in Q12.19, its
reciprocal by Newton-Raphson; output scale 1/256, zero point -128). tflite schemes only."""

from __future__ import annotations

import math

import numpy as np

from heiti.micro.ops import TFLITE_SCHEMES, Unit, integer_op, register

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
DIFF_INTEGER_BITS = 5  # the input differences in Q5.26
SUM_INTEGER_BITS = 12  # the sum of exponentials in Q12.19
OUTPUT = (1.0 / 256, -128)  # TFLite's int8 softmax output grid


def parameters(input_scale: float, beta: float = 1.0) -> dict[str, int]:
    """TFLite's PreprocessSoftmaxScaling and CalculateInputRadius (double rounding build)."""
    from heiti.micro.quantize import quantize_multiplier

    real = min(beta * input_scale * (1 << (31 - DIFF_INTEGER_BITS)), (1 << 31) - 1.0)
    mult, shift = quantize_multiplier(real)
    left_shift = 31 - shift
    radius = math.floor(((1 << DIFF_INTEGER_BITS) - 1) * (1 << (31 - DIFF_INTEGER_BITS)) / 2.0**left_shift)
    return {"mult": int(mult), "left_shift": int(left_shift), "diff_min": -radius}


def _high_mul(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """gemmlowp's SaturatingRoundingDoublingHighMul on int64 arrays holding int32 values."""
    ab = a * b
    total = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    out = np.where(total >= 0, total >> 31, -((-total) >> 31))  # C's division truncates
    return np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, out)


def _divide_pot(x: np.ndarray, exponent: np.ndarray | int) -> np.ndarray:
    """gemmlowp's RoundingDivideByPOT: half away from zero."""
    mask = (np.int64(1) << exponent) - 1
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + ((x & mask) > threshold)


def _shift_left_saturating(x: np.ndarray, exponent: int) -> np.ndarray:
    threshold = (1 << (31 - exponent)) - 1
    return np.where(x > threshold, INT32_MAX, np.where(x < -threshold, INT32_MIN, x << exponent))


def _exp_quarter(a: np.ndarray) -> np.ndarray:
    """exp(a) for a in [-1/4, 0), Q0.31 in and out."""
    constant, third = 1895147668, 715827883
    x = a + (1 << 28)
    x2 = _high_mul(x, x)
    x3 = _high_mul(x2, x)
    x4 = _high_mul(x2, x2)
    poly = _divide_pot(_high_mul(_divide_pot(x4, 2) + x3, third) + x2, 1)
    return constant + _high_mul(np.int64(constant), x + poly)


_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535),
           (3, 720401), (4, 242))  # exp(-2^k) in Q0.31


def exp_on_negative_values(a: np.ndarray) -> np.ndarray:
    """exp(a) for a <= 0 in Q5.26, as Q0.31."""
    fraction_bits = 31 - DIFF_INTEGER_BITS
    quarter = 1 << (fraction_bits - 2)
    rest = (a & (quarter - 1)) - quarter
    result = _exp_quarter(_shift_left_saturating(rest, DIFF_INTEGER_BITS))
    remainder = rest - a
    for exponent, multiplier in _BARREL:
        hit = (remainder & (1 << (fraction_bits + exponent))) != 0
        result = np.where(hit, _high_mul(result, multiplier), result)
    return np.where(a == 0, INT32_MAX, result)


def _one_over_one_plus_x(a: np.ndarray) -> np.ndarray:
    """1 / (1 + a) for a in [0, 1), Q0.31 in and out (Newton-Raphson in Q2.29)."""
    half = (a + INT32_MAX + 1) >> 1  # RoundingHalfSum(a, 1) for a >= 0
    x = 1515870810 + _high_mul(half, -1010580540)
    for _ in range(3):
        one_minus = (1 << 29) - _high_mul(half, x)
        x = x + _shift_left_saturating(_high_mul(x, one_minus), 2)
    return _shift_left_saturating(x, 1)


def softmax(q: np.ndarray, mult: int, left_shift: int, diff_min: int) -> np.ndarray:
    """TFLM's int8 softmax of each row of ``q`` (int64 array of int8 values)."""
    q = np.asarray(q, dtype=np.int64)
    diff = q - q.max(axis=1, keepdims=True)
    used = diff >= diff_min
    scaled = _high_mul(np.where(used, diff, 0) * (1 << left_shift), mult)
    exps = exp_on_negative_values(scaled)
    total = np.where(used, _divide_pot(exps, SUM_INTEGER_BITS), 0).sum(axis=1, keepdims=True)
    bits = np.array([int(v).bit_length() for v in total.reshape(-1)], dtype=np.int64).reshape(total.shape)
    headroom = 32 - bits  # leading zeros of the (positive) sum as uint32
    over_unit = SUM_INTEGER_BITS - headroom
    shifted_minus_one = (total << headroom) - (1 << 31)
    scale = _one_over_one_plus_x(shifted_minus_one)
    out = _divide_pot(_high_mul(scale, exps), over_unit + 31 - 8) - 128
    return np.where(used, out.clip(-128, 127), -128)


@register
class Softmax(Unit):
    kind = "softmax"
    attrs = ("mult", "left_shift", "diff_min")
    schemes = TFLITE_SCHEMES
    keeps_scale = False
    c_files = ("softmax.c",)

    def float_run(self, op, inputs, graph):
        v = inputs[0] - inputs[0].max(axis=1, keepdims=True)
        e = np.exp(v * op.attrs.get("beta", 1.0))
        return e / e.sum(axis=1, keepdims=True)

    def run(self, op, inputs, backend, scheme):
        a = op.attrs
        return backend.asarray(softmax(np.asarray(inputs[0]), a["mult"], a["left_shift"], a["diff_min"]))

    def output_grid(self, op):
        return OUTPUT

    def quantize_tflite(self, op, graph, params, scheme):
        return integer_op(op, parameters(params[op.inputs[0]][0], op.attrs.get("beta", 1.0)))

    def emit_c(self, e):
        a = e.op.attrs
        count = e.graph.tensors[e.op.output].size
        return "", f"hm_softmax({e.src}, {e.out}, {count}, {a['mult']}, {a['left_shift']}, {a['diff_min']});"
