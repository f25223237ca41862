"""reshape: the same bytes seen with another shape (flattening); no code, the same buffer."""

from __future__ import annotations

from heiti.micro.ops import Unit, register


@register
class Reshape(Unit):
    kind = "reshape"
    platform_layer = False  # a view of the same bytes
    attrs = ("shape",)
    in_place = "always"

    def infer_shape(self, shapes, attrs, arrays):
        return tuple(attrs["shape"])

    def float_run(self, op, inputs, graph):
        return inputs[0].reshape(len(inputs[0]), *op.attrs["shape"])

    def run(self, op, inputs, backend, scheme):
        return inputs[0].reshape(inputs[0].shape[0], *op.attrs["shape"])

    def train_forward(self, op, inputs, graph, weight=None, bias=None):
        return inputs[0].reshape(len(inputs[0]), *op.attrs["shape"])

    def emit_c(self, e):
        if e.op.inputs[0] in e.graph.inputs:  # the caller's buffer is not in the arena
            return "", f"hm_copy({e.src}, {e.out}, {e.graph.tensors[e.op.output].size});"
        return "", "/* reshape: same bytes, same buffer */"
