"""mul: TFLite's int8 MUL, element-wise with broadcasting and a fused ReLU/ReLU6:
``clamp(z_out + MultiplyByQuantizedMultiplier((a - z_a) * (b - z_b), M, n), act_min, act_max)``
with the factor ``s_a * s_b / s_out``. tflite schemes only."""

from __future__ import annotations

import numpy as np

from heiti.micro.ops import TFLITE_SCHEMES, Unit, _elementwise, apply_act, integer_op, register, torch_act
from heiti.micro.rounding import tflite_requantize


@register
class Mul(Unit):
    kind = "mul"
    arrays = ("mult", "shift")
    attrs = ("in_zp", "out_zp", "act_min", "act_max")
    schemes = TFLITE_SCHEMES
    keeps_scale = False
    fusable = True
    c_files = ("mul.c",)

    def infer_shape(self, shapes, attrs, arrays):
        return _elementwise.infer_shape(shapes, arrays)

    def float_run(self, op, inputs, graph):
        return apply_act(inputs[0] * inputs[1], op.attrs["act"])

    def run(self, op, inputs, backend, scheme):
        a = op.attrs
        x, y = _elementwise.operands(op, inputs, backend)
        za, zb = a["in_zp"]
        product = (x - za) * (y - zb)
        m, n = (backend.asarray(op.arrays[k])[0] for k in ("mult", "shift"))
        single = scheme == "tflite-single"
        return tflite_requantize(product, m, n, a["out_zp"], a["act_min"], a["act_max"], single)

    def quantize_tflite(self, op, graph, params, scheme):
        from heiti.micro.quantize import requant_arrays, tflite_clamps

        (s_a, z_a), (s_b, z_b) = (params[name] for name in op.inputs)
        s_out, z_out = params[op.output]
        attrs = {"in_zp": [z_a, z_b], "out_zp": z_out} | tflite_clamps(op.attrs.get("act"), s_out, z_out)
        return integer_op(op, attrs, requant_arrays(np.array([s_a * s_b / s_out]), scheme))

    def train_forward(self, op, inputs, graph, weight=None, bias=None):
        return torch_act(inputs[0] * inputs[1], op.attrs["act"])

    def emit_c(self, e):
        a, arrays = e.op.attrs, e.op.arrays
        fields = [*a["in_zp"], a["out_zp"], int(arrays["mult"][0]), int(arrays["shift"][0]), a["act_min"],
                  a["act_max"], e.rounding]
        decl = e.arrays(inline=("mult", "shift")) + _elementwise.c_broadcast(e)
        decl += e.struct("hm_mul_params", fields)
        return decl, f"hm_mul({e.src}, {_elementwise.second(e)}, {e.out}, &{e.name}, &{e.name}_shape);"
