"""dense: a fully connected layer on the flattened input, with a fused ReLU/ReLU6."""

from __future__ import annotations

from heiti.micro.ops import Unit, _affine, apply_act, register, torch_act
from heiti.micro.rounding import requantize, tflite_requantize


@register
class Dense(Unit):
    kind = "dense"
    arrays = ("weight", "bias", "shift")  # "mult" too, except in pow2 graphs
    attrs = ("act_min", "act_max")
    tflite_arrays = ("weight", "bias", "mult", "shift")
    keeps_scale = False
    fusable = True
    weighted = True
    c_files = ("dense.c",)

    def infer_shape(self, shapes, attrs, arrays):
        return (arrays["weight"].shape[0],)

    def float_run(self, op, inputs, graph):
        v = inputs[0]
        return apply_act(v.reshape(len(v), -1) @ op.arrays["weight"].T + op.arrays["bias"], op.attrs["act"])

    def run(self, op, inputs, backend, scheme):
        a = op.attrs
        arr = {k: backend.asarray(v) for k, v in op.arrays.items()}
        tflite = scheme in ("tflite", "tflite-single")
        flat = inputs[0].reshape(inputs[0].shape[0], -1) - (a.get("in_zp", 0) if tflite else 0)
        acc = backend.conv_sums(flat.reshape(*flat.shape, 1, 1), arr["weight"][:, :, None, None], 1, 0, 1)
        acc = acc.reshape(flat.shape[0], -1) + arr["bias"]
        if tflite:
            return tflite_requantize(acc, arr["mult"], arr["shift"], a.get("out_zp", 0), a["act_min"],
                                     a["act_max"], scheme == "tflite-single")
        return requantize(acc, arr.get("mult"), arr["shift"], a["act_min"], a["act_max"])

    def quantize(self, op, graph, scales, scheme):
        return _affine.quantize(op, scales, scheme)

    def quantize_tflite(self, op, graph, params, scheme):
        return _affine.quantize_tflite(op, params, scheme, graph.input_scale)

    def train_forward(self, op, inputs, graph, weight=None, bias=None):
        import torch.nn.functional as F

        v = inputs[0]
        return torch_act(F.linear(v.reshape(len(v), -1), weight, bias), op.attrs["act"])

    def macs(self, op, graph):
        return int(op.arrays["weight"].size)

    def scratch(self, op, graph):
        return 2 * graph.tensors[op.inputs[0]].size

    def emit_c(self, e):
        op, a = e.op, e.op.attrs
        sizes = [e.graph.tensors[name].size for name in (op.inputs[0], op.output)]
        fields = [*sizes, a["act_min"], a["act_max"], e.weight, f"{e.name}_bias",
                  *_affine.c_tail(e)]
        return (_affine.c_arrays(e, dsp=True) + e.struct("hm_dense_params", fields),
                _affine.c_call(e, "hm_dense"))
