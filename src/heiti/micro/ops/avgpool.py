"""avgpool: average pooling (global average pooling with the whole plane as window).

heiti's schemes and TFLite's AVERAGE_POOL_2D divide the window sum rounding half away
from zero on the input's grid (``mode: round``); TFLite's MEAN requantizes it to an output
grid of its own (``mode: requant``). QDQ imports (``mode: qdq``) round as ONNX Runtime
does: the mean of ``q - zero_point`` rescaled to the output grid with one rounding, half to
even."""

from __future__ import annotations

import numpy as np

from heiti.micro.ops import Unit, _pool, integer_op, register
from heiti.micro.rounding import divide_round, tflite_requantize


@register
class AvgPool(Unit):
    kind = "avgpool"
    attrs = ("kh", "kw", "stride")
    c_files = ("avgpool.c",)

    def infer_shape(self, shapes, attrs, arrays):
        c, h, w = shapes[0]
        s = attrs["stride"]
        return c, (h - attrs["kh"]) // s + 1, (w - attrs["kw"]) // s + 1

    def float_run(self, op, inputs, graph):
        from heiti.micro.golden import NumpyBackend

        a = op.attrs
        return NumpyBackend.sum_pool(inputs[0], a["kh"], a["kw"], a["stride"]) / (a["kh"] * a["kw"])

    def run(self, op, inputs, backend, scheme):
        a, x = op.attrs, inputs[0]
        count = a["kh"] * a["kw"]
        total = backend.sum_pool(x, a["kh"], a["kw"], a["stride"])
        if scheme not in ("tflite", "tflite-single"):
            return divide_round(total, count)
        if a.get("mode") == "qdq":
            centred = total - count * a["in_zp"]
            if "mult" in op.arrays:
                arr = {k: backend.asarray(v) for k, v in op.arrays.items()}
                out = half_even_shift(centred * arr["mult"], arr["shift"])
            else:
                out = half_even_divide(centred, count)
            lo, hi = max(-128, a.get("act_min", -128)), min(127, a.get("act_max", 127))
            return (out + a["out_zp"]).clip(lo, hi)
        if a.get("mode", "round") == "requant":  # own output scale: (sum - count * zp_in) rescaled
            arr = {k: backend.asarray(v) for k, v in op.arrays.items()}
            out = tflite_requantize(total - count * a.get("in_zp", 0), arr["mult"], arr["shift"],
                                    a.get("out_zp", 0), -128, 127, scheme == "tflite-single")
        else:
            out = divide_round(total, count)
        return out.clip(a.get("act_min", -128), a.get("act_max", 127))

    def own_grid_tflite(self, op, known):
        return op.output in known

    def requantizes(self, op):
        return "mult" in op.arrays

    def quantize_tflite(self, op, graph, params, scheme):
        from heiti.micro.quantize import requant_arrays

        (s_in, z_in), (s_out, z_out) = params[op.inputs[0]], params[op.output]
        count = op.attrs["kh"] * op.attrs["kw"]
        if op.attrs.get("rounding") == "half-even":  # a QDQ import: ONNX Runtime's rounding
            arrays = {} if s_in == s_out else requant_arrays(np.array([s_in / (s_out * count)]), scheme)
            return integer_op(op, {"in_zp": z_in, "out_zp": z_out, "mode": "qdq"}, arrays)
        if (s_in, z_in) == (s_out, z_out):
            return integer_op(op, {"mode": "round"})
        arrays = requant_arrays(np.array([s_in / (s_out * count)]), scheme)
        return integer_op(op, {"in_zp": z_in, "out_zp": z_out, "mode": "requant"}, arrays)

    def train_forward(self, op, inputs, graph, weight=None, bias=None):
        import torch.nn.functional as F

        a = op.attrs
        return F.avg_pool2d(inputs[0], (a["kh"], a["kw"]), a["stride"])

    def emit_c(self, e):
        a = e.op.attrs
        kernel = "hm_avgpool_qdq" if a.get("mode") == "qdq" else "hm_avgpool"
        return _pool.c_struct(e, a["kh"], a["kw"]), f"{kernel}({e.src}, {e.out}, &{e.name});"


def half_even_divide(total, count: int):
    """``total / count`` rounded half to even (integer arrays)."""
    quotient = total // count  # floor
    twice = 2 * (total - quotient * count)
    return quotient + ((twice > count) | ((twice == count) & (quotient % 2 == 1)))


def half_even_shift(p, shift):
    """``p / 2^shift`` rounded half to even (integer arrays, shift >= 1)."""
    quotient = p >> shift  # floor
    twice = 2 * (p - (quotient << shift))
    full = (shift * 0 + 1) << shift
    return quotient + ((twice > full) | ((twice == full) & (quotient % 2 == 1)))
