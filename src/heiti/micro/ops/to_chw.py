"""to_chw: NHWC samples (as TFLite models take images) to heiti's CHW memory order; the
values and their grid are unchanged."""

from __future__ import annotations

from heiti.micro.ops import Unit, register


@register
class ToChw(Unit):
    kind = "to_chw"
    platform_layer = False  # the input's memory order
    c_files = ("to_chw.c",)

    def infer_shape(self, shapes, attrs, arrays):
        h, w, c = shapes[0]
        return c, h, w

    def float_run(self, op, inputs, graph):
        return inputs[0].transpose(0, 3, 1, 2)

    def run(self, op, inputs, backend, scheme):
        x = inputs[0]
        return x.permute(0, 3, 1, 2) if hasattr(x, "permute") else x.transpose(0, 3, 1, 2)  # torch or NumPy

    def emit_c(self, e):
        h, w, c = e.graph.tensors[e.op.inputs[0]].shape
        src = e.src if e.src.startswith("A") else "(const int8_t *)input"  # uint8 inputs: the same bytes
        return "", f"hm_to_chw({src}, {e.out}, {h * w}, {c});"
