"""softmax: TFLite's int8 SOFTMAX over a vector, bit for bit as TensorFlow Lite Micro's
reference kernel computes it (gemmlowp fixed point: the input differences to the row's
maximum scaled to Q5.26, exp of negative values in Q0.31, their sum in Q12.19, its
reciprocal by Newton-Raphson; output scale 1/256, zero point -128). tflite schemes only."""

from __future__ import annotations

import numpy as np

from heiti.micro.ops import TFLITE_SCHEMES, Unit, integer_op, register
from heiti.micro.ops._fixedpoint import (
    divide_pot,
    exp_on_negative_values,
    high_mul,
    input_radius,
    one_over_one_plus_x,
)

DIFF_INTEGER_BITS = 5  # the input differences in Q5.26
SUM_INTEGER_BITS = 12  # the sum of exponentials in Q12.19
OUTPUT = (1.0 / 256, -128)  # TFLite's int8 softmax output grid


def parameters(input_scale: float, beta: float = 1.0) -> dict[str, int]:
    """TFLite's PreprocessSoftmaxScaling and CalculateInputRadius (double rounding build)."""
    from heiti.micro.quantize import quantize_multiplier

    real = min(beta * input_scale * (1 << (31 - DIFF_INTEGER_BITS)), (1 << 31) - 1.0)
    mult, shift = quantize_multiplier(real)
    left_shift = 31 - shift
    radius = input_radius(DIFF_INTEGER_BITS, left_shift)
    return {"mult": int(mult), "left_shift": int(left_shift), "diff_min": -radius}


def softmax(q: np.ndarray, mult: int, left_shift: int, diff_min: int) -> np.ndarray:
    """TFLM's int8 softmax of each row of ``q`` (int64 array of int8 values)."""
    q = np.asarray(q, dtype=np.int64)
    diff = q - q.max(axis=1, keepdims=True)
    used = diff >= diff_min
    scaled = high_mul(np.where(used, diff, 0) * (1 << left_shift), mult)
    exps = exp_on_negative_values(scaled, DIFF_INTEGER_BITS)
    total = np.where(used, divide_pot(exps, SUM_INTEGER_BITS), 0).sum(axis=1, keepdims=True)
    bits = np.array([int(v).bit_length() for v in total.reshape(-1)], dtype=np.int64).reshape(total.shape)
    headroom = 32 - bits  # leading zeros of the (positive) sum as uint32
    over_unit = SUM_INTEGER_BITS - headroom
    shifted_minus_one = (total << headroom) - (1 << 31)
    scale = one_over_one_plus_x(shifted_minus_one)
    out = divide_pot(high_mul(scale, exps), over_unit + 31 - 8) - 128
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
