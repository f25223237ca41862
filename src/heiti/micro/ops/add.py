"""add: element-wise sum of two tensors, with a fused ReLU/ReLU6 (broadcasting, and a constant
operand, in the tflite schemes: micro/ops/_elementwise.py).

heiti's schemes rescale both inputs by integer factors of a common power of two; the
tflite schemes follow TFLite's ADD: both inputs minus their zero points, times 2^20,
each rescaled to a common scale, summed and rescaled to the output."""

from __future__ import annotations

import math

import numpy as np

from heiti.errors import InputError
from heiti.micro.ops import Unit, _elementwise, apply_act, integer_op, register, torch_act
from heiti.micro.rounding import requantize, tflite_multiply, tflite_multiply_single, tflite_requantize

ADD_LEFT_SHIFT = 20  # TFLite's ADD scales int8 inputs by 2^20 before rescaling them


@register
class Add(Unit):
    kind = "add"
    arrays = ("mult_a", "mult_b", "shift")
    attrs = ("act_min", "act_max")
    tflite_arrays = ("mult", "shift")
    tflite_attrs = ("in_zp", "act_min", "act_max")
    keeps_scale = False
    fusable = True
    c_files = ("add.c",)

    def infer_shape(self, shapes, attrs, arrays):
        return _elementwise.infer_shape(shapes, arrays)

    def float_run(self, op, inputs, graph):
        return apply_act(inputs[0] + inputs[1], op.attrs["act"])

    def run(self, op, inputs, backend, scheme):
        a = op.attrs
        arr = {k: backend.asarray(v) for k, v in op.arrays.items()}
        x, y = _elementwise.operands(op, inputs, backend)
        if scheme not in ("tflite", "tflite-single"):
            total = x * arr["mult_a"] + y * arr["mult_b"]
            return requantize(total, None, arr["shift"], a["act_min"], a["act_max"])
        single = scheme == "tflite-single"
        multiply = tflite_multiply_single if single else tflite_multiply
        m, n = arr["mult"], arr["shift"]
        left = 1 << a.get("left_shift", ADD_LEFT_SHIFT)
        za, zb = a["in_zp"]
        total = multiply((x - za) * left, m[0], n[0]) + multiply((y - zb) * left, m[1], n[1])
        return tflite_requantize(total, m[2], n[2], a.get("out_zp", 0), a["act_min"], a["act_max"], single)

    def quantize(self, op, graph, scales, scheme):
        from heiti.micro.quantize import clamps

        out_scale = scales[op.output]
        ma, mb = (scales[name] / out_scale for name in op.inputs)
        if scheme == "pow2":
            shift = -min(round(math.log2(ma)), round(math.log2(mb)))
        else:
            shift = 30 - math.ceil(math.log2(max(ma, mb)))
        arrays = {"mult_a": np.array([round(ma * 2.0**shift)], dtype=np.int32),
                  "mult_b": np.array([round(mb * 2.0**shift)], dtype=np.int32),
                  "shift": np.array([shift], dtype=np.int32)}
        return integer_op(op, clamps(op.attrs.get("act"), out_scale), arrays)

    def quantize_tflite(self, op, graph, params, scheme):
        from heiti.micro.quantize import tflite_clamps

        (s_a, z_a), (s_b, z_b) = (params[name] for name in op.inputs)
        s_out, z_out = params[op.output]
        attrs = {"in_zp": [z_a, z_b], "out_zp": z_out, "left_shift": ADD_LEFT_SHIFT}
        return integer_op(op, attrs | tflite_clamps(op.attrs.get("act"), s_out, z_out),
                          tflite_add_arrays(s_a, s_b, s_out, scheme))

    def train_forward(self, op, inputs, graph, weight=None, bias=None):
        return torch_act(inputs[0] + inputs[1], op.attrs["act"])

    def emit_c(self, e):
        op, a = e.op, e.op.attrs
        size = e.graph.tensors[op.output].size
        other = _elementwise.second(e)
        broadcast = _elementwise.broadcasts(e)
        if broadcast and e.rounding == "HM_HEITI":
            raise InputError("micro-c: add broadcasts only in the tflite schemes (pow2 and per-channel "
                             "add two tensors of the same shape)")
        if e.rounding == "HM_HEITI":
            ma, mb, n = (int(op.arrays[k][0]) for k in ("mult_a", "mult_b", "shift"))
            return "", (f"hm_add({e.src}, {other}, {e.out}, {size}, {ma}, {mb}, {n}, {a['act_min']}, "
                        f"{a['act_max']});")
        mult, shift = (", ".join(str(int(v)) for v in op.arrays[k]) for k in ("mult", "shift"))
        fields = [size, *a["in_zp"], a["out_zp"], a.get("left_shift", ADD_LEFT_SHIFT), a["act_min"],
                  a["act_max"], f"{{{mult}}}", f"{{{shift}}}", e.rounding]
        decl = e.arrays(inline=("mult", "shift")) + e.struct("hm_add_params", fields)
        if broadcast:
            return (decl + _elementwise.c_broadcast(e),
                    f"hm_add_tflite_broadcast({e.src}, {other}, {e.out}, &{e.name}, &{e.name}_shape);")
        return decl, f"hm_add_tflite({e.src}, {other}, {e.out}, &{e.name});"


def tflite_add_arrays(scale_a: float, scale_b: float, scale_out: float,
                      scheme: str = "tflite") -> dict[str, np.ndarray]:
    """TFLite's ADD multipliers: each input to ``2 max(s_a, s_b) / 2^20``, the sum to the output."""
    from heiti.micro.quantize import requant_arrays

    twice_max = 2.0 * max(scale_a, scale_b)
    factors = [scale_a / twice_max, scale_b / twice_max, twice_max / ((1 << ADD_LEFT_SHIFT) * scale_out)]
    return requant_arrays(np.array(factors), scheme)
