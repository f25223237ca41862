"""logistic: TFLite's int8 LOGISTIC (sigmoid), bit for bit as TensorFlow Lite Micro's reference
kernel computes it: the input minus its zero point rescaled to Q4.27, gemmlowp's fixed-point
logistic (exp of the negative magnitude, 1 / (1 + x) by Newton-Raphson) in Q0.31, rounded to
the output grid 1/256 with zero point -128; inputs beyond the range radius saturate. tflite
schemes only."""

from __future__ import annotations

import math

import numpy as np

from heiti.errors import InputError
from heiti.micro.ops import TFLITE_SCHEMES, Unit, integer_op, register
from heiti.micro.ops._fixedpoint import (
    INT32_MAX,
    divide_pot,
    exp_on_negative_values,
    input_radius,
    one_over_one_plus_x,
)
from heiti.micro.rounding import tflite_multiply, tflite_multiply_single

INPUT_INTEGER_BITS = 4  # the rescaled input in Q4.27
OUTPUT = (1.0 / 256, -128)  # TFLite's int8 logistic output grid


def parameters(input_scale: float, input_zero_point: int) -> dict[str, int]:
    """TFLM's CalculateArithmeticOpDataLogistic: the Q4.27 multiplier as ``(mult, shift)`` with
    heiti's ``shift = 31 - left_shift``, and CalculateInputRadius."""
    fraction, left_shift = math.frexp(float(np.float32(input_scale)) * (1 << (31 - INPUT_INTEGER_BITS)))
    mult = math.floor(fraction * 2**31 + 0.5)  # TfLiteRound: half away from zero (fraction > 0)
    if mult >= 2**31 or left_shift > 31 - INPUT_INTEGER_BITS:
        raise InputError(f"micro: LOGISTIC input scale {input_scale:g} is too large for TFLite's int8 kernel")
    return {"in_zp": int(input_zero_point), "mult": int(mult), "shift": 31 - left_shift,
            "radius": input_radius(INPUT_INTEGER_BITS, left_shift)}


def logistic(q: np.ndarray, in_zp: int, mult: int, shift: int, radius: int,
             single: bool = False) -> np.ndarray:
    """TFLM's int8 logistic of int8 values (int64 array)."""
    x = np.asarray(q, dtype=np.int64) - in_zp
    multiply = tflite_multiply_single if single else tflite_multiply
    a = multiply(x, np.int64(mult), np.int64(shift))
    magnitude = np.where(a > 0, a, -a)
    positive = one_over_one_plus_x(exp_on_negative_values(-magnitude, INPUT_INTEGER_BITS))
    q0 = np.where(a == 0, 1 << 30, np.where(a > 0, positive, INT32_MAX - positive))
    out = (divide_pot(q0, 31 - 8) + OUTPUT[1]).clip(-128, 127)
    return np.where(x <= -radius, -128, np.where(x >= radius, 127, out))


@register
class Logistic(Unit):
    kind = "logistic"
    attrs = ("in_zp", "mult", "shift", "radius")
    schemes = TFLITE_SCHEMES
    keeps_scale = False
    c_files = ("logistic.c",)

    def float_run(self, op, inputs, graph):
        return 1.0 / (1.0 + np.exp(-inputs[0]))

    def run(self, op, inputs, backend, scheme):
        a = op.attrs
        return backend.asarray(logistic(np.asarray(inputs[0]), a["in_zp"], a["mult"], a["shift"], a["radius"],
                                        scheme == "tflite-single"))

    def output_grid(self, op):
        return OUTPUT

    def quantize_tflite(self, op, graph, params, scheme):
        return integer_op(op, parameters(*params[op.inputs[0]]))

    def emit_c(self, e):
        a = e.op.attrs
        count = e.graph.tensors[e.op.output].size
        return "", (f"hm_logistic({e.src}, {e.out}, {count}, {a['in_zp']}, {a['mult']}, {a['shift']}, "
                    f"{a['radius']}, {e.rounding});")
