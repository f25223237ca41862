"""clamp: a ReLU/ReLU6 that could not be fused into the operator before it (a clamp of int8)."""

from __future__ import annotations

from heiti.micro.ops import Unit, apply_act, integer_op, register, torch_act


@register
class Clamp(Unit):
    kind = "clamp"
    attrs = ("act_min", "act_max")
    in_place = "last-reader"
    c_files = ("clamp.c",)

    def float_run(self, op, inputs, graph):
        return apply_act(inputs[0], op.attrs["act"])

    def run(self, op, inputs, backend, scheme):
        return inputs[0].clip(op.attrs["act_min"], op.attrs["act_max"])

    def quantize(self, op, graph, scales, scheme):
        from heiti.micro.quantize import clamps

        return integer_op(op, clamps(op.attrs.get("act"), scales[op.output]))

    def quantize_tflite(self, op, graph, params, scheme):
        from heiti.micro.quantize import tflite_clamps

        return integer_op(op, tflite_clamps(op.attrs.get("act"), *params[op.output]))

    def train_forward(self, op, inputs, graph, weight=None, bias=None):
        return torch_act(inputs[0], op.attrs["act"])

    def emit_c(self, e):
        a = e.op.attrs
        size = e.graph.tensors[e.op.output].size
        return "", f"hm_clamp({e.src}, {e.out}, {size}, {a['act_min']}, {a['act_max']});"
