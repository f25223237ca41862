"""concat: tensors joined along one axis (TFLite's CONCATENATION). TFLM requires every int8
input on the output's grid, so the operator copies values: one copy per input. tflite
schemes only (heiti's schemes give every tensor a scale of its own)."""

from __future__ import annotations

import numpy as np

from heiti.micro.ops import TFLITE_SCHEMES, Unit, register


@register
class Concat(Unit):
    kind = "concat"
    attrs = ("axis",)  # in the per-sample shape (CHW: 0 is the channels)
    schemes = TFLITE_SCHEMES
    c_files = ("concat.c",)

    def infer_shape(self, shapes, attrs, arrays):
        axis = attrs["axis"]
        return (*shapes[0][:axis], sum(s[axis] for s in shapes), *shapes[0][axis + 1:])

    def float_run(self, op, inputs, graph):
        return np.concatenate(inputs, axis=op.attrs["axis"] + 1)

    def run(self, op, inputs, backend, scheme):
        return backend.asarray(np.concatenate([np.asarray(x) for x in inputs], axis=op.attrs["axis"] + 1))

    def emit_c(self, e):
        axis, tensors = e.op.attrs["axis"], e.graph.tensors
        out = tensors[e.op.output].shape
        outer, stride, offset, calls = int(np.prod(out[:axis])), int(np.prod(out[axis:])), 0, []
        for name in e.op.inputs:
            block = int(np.prod(tensors[name].shape[axis:]))
            calls.append(f"hm_concat({e.buffer(name)}, {e.out} + {offset}, {outer}, {block}, {stride});")
            offset += block
        return "", "\n    ".join(calls)
