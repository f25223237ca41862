"""pad: a CHW tensor framed by constant values, any amount on each side (TFLite's PAD with
the zero point; uneven SAME padding of a convolution, which pads with the input's zero point;
SAME max pooling, which pads with -128 so that the maximum is the window's inside)."""

from __future__ import annotations

import numpy as np

from heiti.micro.ops import Unit, register


@register
class Pad(Unit):
    kind = "pad"
    attrs = ("pads", "value")  # pads: [top, bottom, left, right]; value: the int8 the frame holds
    c_files = ("pad.c",)

    def infer_shape(self, shapes, attrs, arrays):
        c, h, w = shapes[0]
        top, bottom, left, right = attrs["pads"]
        return c, h + top + bottom, w + left + right

    def _pad(self, op, x, value):
        top, bottom, left, right = op.attrs["pads"]
        return np.pad(np.asarray(x), ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)

    def float_run(self, op, inputs, graph):
        return self._pad(op, inputs[0], op.attrs.get("float_value", 0.0))

    def run(self, op, inputs, backend, scheme):
        return backend.asarray(self._pad(op, inputs[0], op.attrs["value"]))

    def emit_c(self, e):
        c, h, w = e.graph.tensors[e.op.inputs[0]].shape
        top, bottom, left, right = e.op.attrs["pads"]
        return "", (f"hm_pad({e.src}, {e.out}, {c}, {h}, {w}, {top}, {bottom}, {left}, {right}, "
                    f"{e.op.attrs['value']});")
