"""requantize: TFLite's QUANTIZE between integer grids (int8 or a uint8 model input to int8):
``clamp(out_zp + MultiplyByQuantizedMultiplier(q - in_zp, M, n), -128, 127)``."""

from __future__ import annotations

import numpy as np

from heiti.micro.ops import TFLITE_SCHEMES, Unit, integer_op, register
from heiti.micro.rounding import tflite_requantize


@register
class Requantize(Unit):
    kind = "requantize"
    arrays = ("mult", "shift")
    attrs = ("in_zp", "out_zp")
    schemes = TFLITE_SCHEMES
    keeps_scale = False
    c_files = ("requantize.c",)

    def float_run(self, op, inputs, graph):
        return inputs[0]

    def run(self, op, inputs, backend, scheme):
        a = op.attrs
        arr = {k: backend.asarray(v) for k, v in op.arrays.items()}
        return tflite_requantize(inputs[0] - a["in_zp"], arr["mult"], arr["shift"], a["out_zp"], -128, 127,
                                 scheme == "tflite-single")

    def quantize_tflite(self, op, graph, params, scheme):
        from heiti.micro.quantize import requant_arrays

        (s_in, z_in), (s_out, z_out) = params[op.inputs[0]], params[op.output]
        arrays = requant_arrays(np.array([s_in / s_out]), scheme)
        return integer_op(op, {"in_zp": z_in, "out_zp": z_out}, arrays)

    def emit_c(self, e):
        a, op = e.op.attrs, e.op
        unsigned = int(e.graph.tensors[op.inputs[0]].dtype == "uint8")
        mult, shift = int(op.arrays["mult"][0]), int(op.arrays["shift"][0])
        return "", (f"hm_requantize({e.src}, {e.out}, {e.graph.tensors[op.output].size}, {unsigned}, "
                    f"{a['in_zp']}, {mult}, {shift}, {a['out_zp']}, {e.rounding});")
