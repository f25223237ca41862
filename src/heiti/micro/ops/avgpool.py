"""avgpool: average pooling (global average pooling with the whole plane as window).

heiti's schemes and TFLite's AVERAGE_POOL_2D divide the window sum rounding half away
from zero on the input's grid (``mode: round``); TFLite's MEAN and ONNX's QDQ pooling
requantize it to an output grid of their own (``mode: requant``)."""

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
        if (s_in, z_in) == (s_out, z_out):
            return integer_op(op, {"mode": "round"})
        count = op.attrs["kh"] * op.attrs["kw"]
        arrays = requant_arrays(np.array([s_in / (s_out * count)]), scheme)
        return integer_op(op, {"in_zp": z_in, "out_zp": z_out, "mode": "requant"}, arrays)

    def train_forward(self, op, inputs, graph, weight=None, bias=None):
        import torch.nn.functional as F

        a = op.attrs
        return F.avg_pool2d(inputs[0], (a["kh"], a["kw"]), a["stride"])

    def emit_c(self, e):
        a = e.op.attrs
        return _pool.c_struct(e, a["kh"], a["kw"]), f"hm_avgpool({e.src}, {e.out}, &{e.name});"
