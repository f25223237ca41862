"""maxpool: max pooling with a square window, no padding (the output keeps the input's grid)."""

from __future__ import annotations

from heiti.micro.ops import Unit, _pool, register


@register
class MaxPool(Unit):
    kind = "maxpool"
    attrs = ("kernel", "stride")
    c_files = ("maxpool.c",)

    def infer_shape(self, shapes, attrs, arrays):
        c, h, w = shapes[0]
        k, s = attrs["kernel"], attrs["stride"]
        return c, (h - k) // s + 1, (w - k) // s + 1

    def float_run(self, op, inputs, graph):
        from heiti.micro.golden import NumpyBackend

        return NumpyBackend.max_pool(inputs[0], op.attrs["kernel"], op.attrs["stride"])

    def run(self, op, inputs, backend, scheme):
        out = backend.max_pool(inputs[0], op.attrs["kernel"], op.attrs["stride"])
        if scheme in ("tflite", "tflite-single"):
            return out.clip(op.attrs.get("act_min", -128), op.attrs.get("act_max", 127))
        return out

    def train_forward(self, op, inputs, graph, weight=None, bias=None):
        import torch.nn.functional as F

        return F.max_pool2d(inputs[0], op.attrs["kernel"], op.attrs["stride"])

    def emit_c(self, e):
        k = e.op.attrs["kernel"]
        return _pool.c_struct(e, k, k), f"hm_maxpool({e.src}, {e.out}, &{e.name});"
