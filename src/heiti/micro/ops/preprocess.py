"""preprocess: the raw uint8 input (int8 for signed data) minus a per-channel mean, to the first
int8 grid (the device's input quantization, rounding half away from zero once)."""

from __future__ import annotations

import numpy as np

from heiti.micro.ops import Unit, integer_op, register
from heiti.micro.rounding import channel, requantize, scale_round


@register
class Preprocess(Unit):
    kind = "preprocess"
    platform_layer = False  # the device's input quantization, not a layer of the network
    arrays = ("mean", "mult", "shift")
    keeps_scale = False
    c_files = ("preprocess.c",)

    def float_run(self, op, inputs, graph):
        v = inputs[0]
        return v - (op.arrays["mean"] * graph.input_scale).reshape((1, -1) + (1,) * (v.ndim - 2))

    def run(self, op, inputs, backend, scheme):
        arr = {k: backend.asarray(v) for k, v in op.arrays.items()}
        x = inputs[0]
        centred = x - channel(arr["mean"], x)
        if scheme in ("tflite", "tflite-single"):
            scaled = scale_round(centred, arr["mult"], arr["shift"])
            return (scaled + op.attrs.get("out_zp", 0)).clip(-128, 127)
        return requantize(centred, arr["mult"], arr["shift"])

    def requantizes(self, op):
        return False

    def quantize(self, op, graph, scales, scheme):
        from heiti.micro.quantize import requant_arrays

        factor = np.array([graph.input_scale / scales[op.output]])
        arrays = {"mean": op.arrays["mean"]} | requant_arrays(factor)
        return integer_op(op, {}, arrays)

    def quantize_tflite(self, op, graph, params, scheme):
        from heiti.micro.quantize import requant_arrays

        s_out, z_out = params[op.output]
        arrays = {"mean": op.arrays["mean"]} | requant_arrays(np.array([graph.input_scale / s_out]))
        return integer_op(op, {"out_zp": z_out}, arrays)

    def train_forward(self, op, inputs, graph, weight=None, bias=None):
        import torch

        v = inputs[0]
        mean = torch.from_numpy(op.arrays["mean"] * graph.input_scale).float()
        return v - mean.reshape((1, -1) + (1,) * (v.ndim - 2))

    def emit_c(self, e):
        op = e.op
        source = e.graph.tensors[op.inputs[0]]
        c, plane = source.shape[0], source.size // source.shape[0]  # images, windows or vectors
        mult, shift = int(op.arrays["mult"][0]), int(op.arrays["shift"][0])
        decl = e.arrays(inline=("mult", "shift"))
        if source.dtype == "int8":  # signed data
            return decl, (f"hm_preprocess_int8({e.src}, {e.out}, {c}, {plane}, {e.name}_mean, {mult}, "
                          f"{shift}, {op.attrs.get('out_zp', 0)});")
        if op.attrs.get("out_zp", 0):
            return decl, (f"hm_preprocess_zp({e.src}, {e.out}, {c}, {plane}, {e.name}_mean, {mult}, {shift}, "
                          f"{op.attrs['out_zp']});")
        return decl, f"hm_preprocess({e.src}, {e.out}, {c}, {plane}, {e.name}_mean, {mult}, {shift});"

