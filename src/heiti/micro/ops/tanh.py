"""tanh: TFLite's int8 TANH as TensorFlow Lite Micro's reference kernel computes it: the input
minus its zero point rescaled to Q4.27 (inputs beyond the radius saturate to -128 or 127),
gemmlowp's fixed-point tanh in Q0.31, rounded to the output grid (scale 1/128, zero point 0).
tflite schemes only."""

from __future__ import annotations

import math

import numpy as np

from heiti.micro.ops import TFLITE_SCHEMES, Unit, integer_op, register
from heiti.micro.ops._fixedpoint import divide_pot, input_radius, tanh
from heiti.micro.rounding import tflite_multiply, tflite_multiply_single

INPUT_INTEGER_BITS = 4  # the rescaled input in Q4.27
OUTPUT = (1.0 / 128, 0)  # TFLite's int8 tanh output grid


def parameters(input_scale: float, input_zero_point: int) -> dict[str, int]:
    """TFLM's TANH preparation: the input multiplier from frexp (not QuantizeMultiplier), as
    ``M * 2^-shift``, and the input radius."""
    mantissa, left_shift = math.frexp(float(input_scale) * (1 << (31 - INPUT_INTEGER_BITS)))
    mult = math.floor(mantissa * 2**31 + 0.5)  # TfLiteRound: half away from zero
    return {"in_zp": int(input_zero_point), "mult": int(mult), "shift": 31 - left_shift,
            "radius": input_radius(INPUT_INTEGER_BITS, left_shift)}


def tanh_int8(q: np.ndarray, in_zp: int, mult: int, shift: int, radius: int,
              single: bool = False) -> np.ndarray:
    """TFLM's int8 tanh of int8 values (int64 array)."""
    x = np.asarray(q, dtype=np.int64) - in_zp
    inside = (x > -radius) & (x < radius)
    multiply = tflite_multiply_single if single else tflite_multiply
    rescaled = multiply(np.where(inside, x, 0), np.int64(mult), np.int64(shift))
    out = divide_pot(tanh(rescaled, INPUT_INTEGER_BITS), 31 - 7).clip(-128, 127)
    return np.where(inside, out, np.where(x < 0, -128, 127))


@register
class Tanh(Unit):
    kind = "tanh"
    attrs = ("in_zp", "mult", "shift", "radius")
    schemes = TFLITE_SCHEMES
    keeps_scale = False
    c_files = ("tanh.c",)

    def float_run(self, op, inputs, graph):
        return np.tanh(inputs[0])

    def run(self, op, inputs, backend, scheme):
        a = op.attrs
        out = tanh_int8(np.asarray(inputs[0]), a["in_zp"], a["mult"], a["shift"], a["radius"],
                        scheme == "tflite-single")
        return backend.asarray(out)

    def output_grid(self, op):
        return OUTPUT

    def quantize_tflite(self, op, graph, params, scheme):
        return integer_op(op, parameters(*params[op.inputs[0]]))

    def train_forward(self, op, inputs, graph, weight=None, bias=None):
        import torch

        return torch.tanh(inputs[0])

    def emit_c(self, e):
        a = e.op.attrs
        count = e.graph.tensors[e.op.output].size
        return "", (f"hm_tanh({e.src}, {e.out}, {count}, {a['in_zp']}, {a['mult']}, {a['shift']}, "
                    f"{a['radius']}, {e.rounding});")
