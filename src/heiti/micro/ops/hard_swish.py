"""hard_swish: TFLite's int8 HARD_SWISH (``x * relu6(x + 3) / 6``) as TensorFlow Lite Micro's
reference kernel computes it, in 16-bit fixed point: the input minus its zero point on a
finer grid (times 2^7), a "reluish" factor ``relu6(x + 3) / 6`` in Q0.15 and the input
rescaled to the output grid, multiplied and rounded. Both multipliers are TFLite's
QuantizeMultiplier of float32 ratios, narrowed to 16 bits. tflite schemes only."""

from __future__ import annotations

from typing import Any

import numpy as np

from heiti.errors import InputError
from heiti.micro.ops import TFLITE_SCHEMES, Unit, apply_act, integer_op, register
from heiti.micro.ops._fixedpoint import divide_pot

INT16_MIN, INT16_MAX = -(2**15), 2**15 - 1


def _int16_multiplier(real: float) -> tuple[int, int]:
    """QuantizeMultiplier then DownScaleInt32ToInt16Multiplier: (Q0.15 multiplier, TFLite's exponent)."""
    from heiti.micro.quantize import quantize_multiplier

    mult, shift = quantize_multiplier(real)
    narrow = INT16_MAX if mult >= 2**31 - 1 - (1 << 15) else (mult + (1 << 15)) >> 16
    return narrow, 31 - shift


def parameters(input_scale: float, input_zero_point: int, output_scale: float,
               output_zero_point: int) -> dict[str, int]:
    """TFLM's HARD_SWISH preparation (the scale ratios in float32, as TFLM computes them)."""
    hires = np.float32(1.0 / 128) * np.float32(input_scale)
    out_mult, out_exp = _int16_multiplier(float(hires / np.float32(output_scale)))
    relu_mult, relu_exp = _int16_multiplier(float(hires / np.float32(3.0 / 32768)))
    if out_exp > 0:
        raise InputError(f"micro: HARD_SWISH with input scale {input_scale:g} and output scale "
                         f"{output_scale:g} rescales by more than 1 (TFLM refuses it too)")
    return {"in_zp": int(input_zero_point), "out_zp": int(output_zero_point), "out_mult": out_mult,
            "out_exp": out_exp, "relu_mult": relu_mult, "relu_exp": relu_exp}


def _sat16(x: np.ndarray) -> np.ndarray:
    return x.clip(INT16_MIN, INT16_MAX)


def _high_mul16(a: Any, b: Any, rounding: bool = True) -> Any:
    """gemmlowp's SaturatingRoundingDoublingHighMul on int16 (TFLite's SaturatingDoublingHighMul
    without ``rounding``): ``(a * b [+ nudge]) / 2^15`` truncated toward zero."""
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 14, 1 - (1 << 14)) if rounding else 0
    total = ab + nudge
    out = np.where(total >= 0, total >> 15, -((-total) >> 15))
    return np.where((a == INT16_MIN) & (b == INT16_MIN), INT16_MAX, out)


def hard_swish_int8(q: np.ndarray, p: dict[str, int]) -> np.ndarray:
    """TFLM's int8 hard swish of int8 values (int64 array)."""
    hires = (np.asarray(q, dtype=np.int64) - p["in_zp"]) * (1 << 7)
    preshift = _high_mul16(hires, p["out_mult"])
    reluish: Any = hires
    if p["relu_exp"] > 0:
        reluish = _sat16(reluish << (p["relu_exp"] - 1))
    reluish = _high_mul16(reluish, p["relu_mult"])
    if p["relu_exp"] > 0:
        reluish = _sat16(reluish * 2)
    if p["relu_exp"] < 0:
        reluish = divide_pot(reluish, -p["relu_exp"])
    reluish = (reluish + (1 << 15)) >> 1  # [-1, 1] in Q0.15 to [0, 1]
    out = divide_pot(_high_mul16(reluish, preshift, rounding=False), -p["out_exp"]) + p["out_zp"]
    return out.clip(-128, 127)


@register
class HardSwish(Unit):
    kind = "hard_swish"
    attrs = ("in_zp", "out_zp", "out_mult", "out_exp", "relu_mult", "relu_exp")
    schemes = TFLITE_SCHEMES
    keeps_scale = False
    c_files = ("hard_swish.c",)

    def float_run(self, op, inputs, graph):
        return inputs[0] * apply_act(inputs[0] + 3, "relu6") / 6

    def run(self, op, inputs, backend, scheme):
        return backend.asarray(hard_swish_int8(np.asarray(inputs[0]), op.attrs))

    def quantize_tflite(self, op, graph, params, scheme):
        return integer_op(op, parameters(*params[op.inputs[0]], *params[op.output]))

    def train_forward(self, op, inputs, graph, weight=None, bias=None):
        import torch.nn.functional as F

        return F.hardswish(inputs[0])

    def emit_c(self, e):
        a = e.op.attrs
        fields = [e.graph.tensors[e.op.output].size, *(a[k] for k in self.attrs)]
        return e.struct("hm_hard_swish_params", fields), f"hm_hard_swish({e.src}, {e.out}, &{e.name});"
