"""conv2d: 2-D convolution over CHW, groups 1 or depthwise, symmetric zero padding, dilation
(attribute ``dilation``, 1 when absent), with a fused ReLU/ReLU6 (a clamp of the int8 output)."""

from __future__ import annotations

import numpy as np

from heiti.micro.ops import Unit, _affine, apply_act, register, torch_act
from heiti.micro.rounding import channel, requantize, tflite_requantize


@register
class Conv2d(Unit):
    kind = "conv2d"
    arrays = ("weight", "bias", "shift")  # "mult" too, except in pow2 graphs
    attrs = ("stride", "pad", "groups", "act_min", "act_max")
    tflite_arrays = ("weight", "bias", "mult", "shift")
    keeps_scale = False
    fusable = True
    weighted = True
    c_files = ("conv2d.c", "conv2d_dilated.c")

    def infer_shape(self, shapes, attrs, arrays):
        _, h, w = shapes[0]
        cout, _, kh, kw = arrays["weight"].shape
        pad, stride, d = attrs["pad"], attrs["stride"], attrs.get("dilation", 1)
        kh, kw = (kh - 1) * d + 1, (kw - 1) * d + 1
        return cout, (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1

    def float_run(self, op, inputs, graph):
        from heiti.micro.golden import NumpyBackend

        a = op.attrs
        out = NumpyBackend.conv_sums(inputs[0], op.arrays["weight"], a["stride"], a["pad"], a["groups"],
                                     a.get("dilation", 1))
        return apply_act(out + op.arrays["bias"].reshape(1, -1, 1, 1), a["act"])

    def run(self, op, inputs, backend, scheme):
        a, x = op.attrs, inputs[0]
        arr = {k: backend.asarray(v) for k, v in op.arrays.items()}
        tflite = scheme in ("tflite", "tflite-single")
        sums = backend.conv_sums(x - a.get("in_zp", 0) if tflite else x, arr["weight"], a["stride"], a["pad"],
                                 a["groups"], a.get("dilation", 1))
        acc = sums + channel(arr["bias"], x)
        if tflite:
            mult, shift = channel(arr["mult"], x), channel(arr["shift"], x)
            return tflite_requantize(acc, mult, shift, a.get("out_zp", 0), a["act_min"], a["act_max"],
                                     scheme == "tflite-single")
        mult = channel(arr["mult"], x) if "mult" in arr else None  # pow2: shifts only
        return requantize(acc, mult, channel(arr["shift"], x), a["act_min"], a["act_max"])

    def quantize(self, op, graph, scales, scheme):
        return _affine.quantize(op, scales, scheme)

    def quantize_tflite(self, op, graph, params, scheme):
        return _affine.quantize_tflite(op, params, scheme, graph.input_scale)

    def train_forward(self, op, inputs, graph, weight=None, bias=None):
        import torch.nn.functional as F

        a = op.attrs
        return torch_act(F.conv2d(inputs[0], weight, bias, stride=a["stride"], padding=a["pad"],
                                  dilation=a.get("dilation", 1), groups=a["groups"]), a["act"])

    def macs(self, op, graph):
        cout, cin_group, kh, kw = op.arrays["weight"].shape
        _, oh, ow = graph.tensors[op.output].shape
        return int(cout * oh * ow * cin_group * kh * kw)

    def describe(self, op):
        kh, kw = op.arrays["weight"].shape[2:]
        dilation = op.attrs.get("dilation", 1)
        return {"kernel": f"{kh}x{kw}" + (" depthwise" if op.attrs["groups"] > 1 else "")
                + (f" dilation {dilation}" if dilation > 1 else "")}

    def scratch(self, op, graph):
        dilation, phases = op.attrs.get("dilation", 1), _phases(op, graph)
        if dilation > 1 and not phases:
            return 1  # the portable kernel uses none (one element: the struct still names hm_scratch)
        _, h, w = graph.tensors[op.inputs[0]].shape
        pad, fan = op.attrs["pad"] // dilation, int(np.prod(op.arrays["weight"].shape[1:]))
        h, w = h // dilation, w // dilation  # a phase's (d = 1: the input)
        return 2 * fan + 2 if op.attrs["groups"] == 1 else (h + 2 * pad) * (w + 2 * pad)

    def emit_c(self, e):
        op, a = e.op, e.op.attrs
        cin, h, w = e.graph.tensors[op.inputs[0]].shape
        cout, oh, ow = e.graph.tensors[op.output].shape
        kh, kw = op.arrays["weight"].shape[2:]
        d, pad = a.get("dilation", 1), a["pad"]
        phases = _phases(op, e.graph)
        if phases:  # the convolution of each phase, undilated: h, w, pad and the output divided by d
            h, w, pad, oh, ow = h // d, w // d, pad // d, oh // d, ow // d
        fields = [cin, h, w, cout, kh, kw, a["stride"], pad, a["groups"], oh, ow, a["act_min"],
                  a["act_max"], e.weight, f"{e.name}_bias", *_affine.c_tail(e)]
        decl = _affine.c_arrays(e, dsp=a["groups"] == 1 and (d == 1 or phases))
        decl += e.struct("hm_conv_params", fields)
        if phases:
            decl += (f"static int8_t {e.name}_phase_in[{cin * h * w}], {e.name}_phase_out[{cout * oh * ow}];"
                     "  /* one phase of the dilated convolution */\n")
            return decl, (f"hm_conv2d_phases({e.src}, {e.out}, &{e.name}, {d}, {e.name}_phase_in, "
                          f"{e.name}_phase_out);")
        if d > 1:  # its own kernel: the others' fast paths stay as they are
            return decl, f"hm_conv2d_dilated({e.src}, {e.out}, &{e.name}, {d});"
        return decl, _affine.c_call(e, "hm_conv2d")


def _phases(op, graph) -> bool:
    """Whether a dilated convolution splits into d x d undilated ones on the input's phases
    (pixels y = d*i + a, x = d*j + b): stride 1, padding and input size multiples of d."""
    d = op.attrs.get("dilation", 1)
    _, h, w = graph.tensors[op.inputs[0]].shape
    return d > 1 and op.attrs["stride"] == 1 and op.attrs["pad"] % d == 0 and h % d == 0 and w % d == 0
