"""int8 ``.tflite`` flatbuffers → integer graph in the ``tflite`` scheme, exactly.

The file is read with the generated field library of the TFLite schema that ships with
``tflite-micro``. Every int8 weight, int32 bias, scale and
zero point is kept, and the multipliers are derived as TFLite Micro derives them, so the
golden model and the C kernels compute TFLM's integers.

TFLite tensors are NHWC; heiti's are CHW. Each TFLite tensor is followed as a graph
tensor plus a layout: ``nhwc`` (TFLite's view of a CHW tensor), ``nchw`` (memory
identical) or ``flat``; TRANSPOSE and RESHAPE between layouts only relabel, and a
fully connected layer reading an NHWC tensor flattened in TFLite's (h, w, c) order gets
its weight columns permuted instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from heiti.errors import InputError
from heiti.micro.graph import Graph, Op, Tensor
from heiti.micro.ops import unit
from heiti.micro.ops.add import ADD_LEFT_SHIFT, tflite_add_arrays
from heiti.micro.quantize import mean_multiplier, quantize_multiplier, tflite_clamps

SUPPORTED = ("CONV_2D, DEPTHWISE_CONV_2D (also dilated), FULLY_CONNECTED, MAX_POOL_2D, AVERAGE_POOL_2D, "
             "MEAN over height and width, ADD and MUL (broadcasting, constant operands), CONCATENATION, "
             "RESIZE_NEAREST_NEIGHBOR, "
             "PAD, SAME padding (also uneven), RESHAPE, TRANSPOSE (NCHW <-> NHWC), RELU/RELU6 with unchanged "
             "quantization, SOFTMAX (int8, over a vector), TANH, HARD_SWISH, LOGISTIC; fused RELU/RELU6")
_INT8, _UINT8, _INT32 = 9, 3, 2  # TensorType values of the schema
_ACT = {0: None, 1: "relu", 3: "relu6"}  # ActivationFunctionType: NONE, RELU, RELU6


def _schema() -> Any:
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated

    return schema_py_generated


@dataclass
class _Value:
    name: str  # graph tensor
    layout: str  # "nhwc", "nchw" or "flat"
    hwc: tuple[int, int, int] | None = None  # flat values in TFLite's (h, w, c) order of a CHW tensor
    pad: int = 0  # a PAD's output, waiting for the convolution that reads it
    samples_hwc: bool = False  # the model input, whose samples may be NHWC images (else NCHW)


class _Reader:
    def __init__(self, data: bytes, input_shapes: list[tuple[int, ...]]):
        s = _schema()
        self.s = s
        try:
            self.model = s.Model.GetRootAs(data, 0)
            if self.model.SubgraphsLength() != 1:
                raise ValueError(f"{self.model.SubgraphsLength()} subgraphs (1 supported)")
            self.sub = self.model.Subgraphs(0)
        except Exception as exc:  # flatbuffers raises several types for foreign bytes
            raise InputError(f"micro: not a readable .tflite model: {exc}") from None
        self.codes = {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
        self.tensors: dict[str, Tensor] = {}
        self.ops: list[Op] = []
        self.values: dict[int, _Value] = {}
        self.names: dict[str, str] = {}  # graph tensor -> the model's tensor name
        self._start(input_shapes)

    # --- flatbuffer fields -------------------------------------------------------------------
    def quant(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        q = self.sub.Tensors(index).Quantization()
        if q is None or q.ScaleLength() == 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        return q.ScaleAsNumpy().astype(np.float32), q.ZeroPointAsNumpy().astype(np.int64)

    def act_quant(self, index: int, types: tuple[int, ...] = (9,)) -> tuple[float, int]:
        tensor = self.sub.Tensors(index)
        scales, zps = self.quant(index)
        if tensor.Type() not in types or len(scales) != 1:
            raise InputError(f"micro: tensor '{tensor.Name().decode()}' is not an int8 activation with one "
                             "scale", hint="micro-import-tflite reads fully int8 models (litert-convert "
                             "with quantization: int8, or TFLite's full-integer post-training quantization)")
        return float(scales[0]), int(zps[0])

    def shape(self, index: int) -> tuple[int, ...]:
        return tuple(int(d) for d in self.sub.Tensors(index).ShapeAsNumpy())

    def const(self, index: int, dtype: Any) -> np.ndarray | None:
        if index < 0:
            return None
        buffer = self.model.Buffers(self.sub.Tensors(index).Buffer())
        if buffer is None or buffer.DataLength() == 0:
            return None
        return np.frombuffer(buffer.DataAsNumpy().tobytes(), dtype=dtype).reshape(self.shape(index))

    def options(self, op: Any, kind: str) -> Any:
        table = op.BuiltinOptions()
        options = getattr(self.s, kind)()
        if table is not None:
            options.Init(table.Bytes, table.Pos)
        return options

    # --- graph building ----------------------------------------------------------------------
    def emit(self, kind: str, inputs: list[str], shape: tuple[int, ...], quant: tuple[float, int],
             attrs: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> str:
        name = f"t{len(self.ops)}"
        self.tensors[name] = Tensor(name, tuple(shape), quant[0], zero_point=quant[1])
        self.ops.append(Op(kind, inputs, name, attrs, arrays or {}))
        return name

    def _start(self, input_shapes: list[tuple[int, ...]]) -> None:
        inputs = [int(index) for index in self.sub.InputsAsNumpy()]
        if len(inputs) != len(input_shapes):
            raise InputError(f"micro: the .tflite model has {len(inputs)} inputs, the dataset "
                             f"{len(input_shapes)}", hint="give the dataset one input per model input")
        # the first is "input", further ones "input1", ...: read one after the other by the device
        self.inputs = ["input" if k == 0 else f"input{k}" for k in range(len(inputs))]
        for index, name, given in zip(inputs, self.inputs, input_shapes, strict=True):
            self._bind_input(index, name, given)
        self.input_scale = self.tensors["input"].scale

    def _bind_input(self, index: int, name: str, given: tuple[int, ...]) -> None:
        dims = self.shape(index)[1:]
        # the input travels as the model's own int8 or uint8 (raw integers, its scale and zero point)
        scale, zero_point = self.act_quant(index, (_INT8, _UINT8))
        dtype = "uint8" if self.sub.Tensors(index).Type() == _UINT8 else "int8"
        if len(dims) == 3 and given == (dims[2], dims[0], dims[1]):  # CHW samples: TFLite's NHWC view
            self.tensors[name] = Tensor(name, given, scale, dtype, zero_point)
            self.values[index] = _Value(name, "nhwc")
        elif len(dims) == 3 and given == (dims[1], dims[2], dims[0]) != dims:  # NHWC samples, NCHW model
            self.tensors[name] = Tensor(name, given, scale, dtype, zero_point)
            chw = self.emit("to_chw", [name], dims, (scale, zero_point), {})
            self.tensors[chw].dtype = dtype  # the same integers, reordered
            self.values[index] = _Value(chw, "nchw")
        elif given == dims:  # samples as the model takes them: NHWC images, NCHW ones or vectors
            self.tensors[name] = Tensor(name, given, scale, dtype, zero_point)
            images = len(dims) == 3
            self.values[index] = _Value(name, "nchw" if images else "flat", samples_hwc=images)
        else:
            layouts = (f"{list(dims)} as the model takes them, or with the channels moved: "
                       f"{[dims[2], dims[0], dims[1]]} (C x H x W samples for an NHWC model) or "
                       f"{[dims[1], dims[2], dims[0]]} (H x W x C samples for an NCHW model)"
                       if len(dims) == 3 else f"{list(dims)}")
            raise InputError(f"micro: the dataset's samples are {list(given)}, the .tflite model's input "
                             f"{f'{name!r} ' if name != 'input' else ''}is {list(dims)}",
                             hint=f"give the dataset samples shaped {layouts}")

    def value(self, index: int, op_name: str, layout: str | None = None) -> _Value:
        found = self.values.get(index)
        if found is None:
            raise InputError(f"micro: {op_name} reads tensor '{self.sub.Tensors(index).Name().decode()}', "
                             "which is neither computed nor supported as a constant")
        if found.pad and op_name not in ("CONV_2D", "DEPTHWISE_CONV_2D"):  # a PAD of its own after all
            found = self._padded(_Value(found.name, found.layout), [found.pad] * 4,
                                 self.tensors[found.name].zero_point)
            self.values[index] = found
        if self.tensors[found.name].dtype == "uint8" and op_name != "QUANTIZE":
            raise InputError(f"micro: the uint8 model input is read by {op_name}; heiti's kernels read "
                             "int8 (a QUANTIZE to int8 first, as TFLite's converter emits)")
        if op_name == "QUANTIZE":  # element-wise: the layout is decided by the reader after it
            return found
        if found.samples_hwc and layout == "nhwc":  # NHWC samples: to heiti's CHW first
            h, w, c = self.tensors[found.name].shape
            found = _Value(self.emit("to_chw", [found.name], (c, h, w), self.act_quant(index), {}), "nhwc")
            self.values[index] = found
        elif found.samples_hwc:  # read as NCHW (e.g. by a TRANSPOSE): the samples were NCHW
            found = _Value(found.name, "nchw")
            self.values[index] = found
        if layout and found.layout != layout:
            raise InputError(f"micro: {op_name} needs an {layout.upper()} input, got {found.layout}")
        return found

    def run(self) -> Graph:
        for k in range(self.sub.OperatorsLength()):
            op = self.sub.Operators(k)
            code = self.model.OperatorCodes(op.OpcodeIndex())
            name = self.codes.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM")
            handler = OPERATORS.get(name)
            if handler is None:
                raise InputError(f"micro: TFLite operator {k} {name} is not supported",
                                 hint=f"supported: {SUPPORTED}")
            ins = [int(i) for i in op.InputsAsNumpy()]
            outs = [int(i) for i in op.OutputsAsNumpy()]
            self.values[outs[0]] = handler(self, op, ins, outs[0])
            self.names.setdefault(self.values[outs[0]].name, self.sub.Tensors(outs[0]).Name().decode())
        results = [self.values.get(int(index)) for index in self.sub.OutputsAsNumpy()]
        if any(result is None or result.hwc or result.pad for result in results):
            raise InputError("micro: the model's outputs must be computed tensors in heiti's order")
        names = [result.name for result in results if result is not None]
        return Graph(self.tensors, self.ops, "input", names[0], "tflite", self.input_scale,
                     {"source": "tflite", "names": self.names}, names[1:], self.inputs[1:])

    # --- operators ---------------------------------------------------------------------------
    def _conv(self, op: Any, ins: list[int], out: int, depthwise: bool) -> _Value:
        kind = "DEPTHWISE_CONV_2D" if depthwise else "CONV_2D"
        o = self.options(op, "DepthwiseConv2DOptions" if depthwise else "Conv2DOptions")
        src = self.value(ins[0], kind, "nhwc")
        dilation = int(o.DilationHFactor())
        if o.DilationWFactor() != dilation or o.StrideH() != o.StrideW():
            raise InputError(f"micro: {kind} needs equal dilations and equal strides")
        weight = self.const(ins[1], np.int8)
        if weight is None:
            raise InputError(f"micro: {kind} needs constant int8 weights")
        cin, h, w = self.tensors[src.name].shape
        if depthwise:  # [1, kh, kw, cin * multiplier] -> [cout, 1, kh, kw]
            weight = weight[0].transpose(2, 0, 1)[:, None]
            groups = cin if cin > 1 else 1
        else:  # [cout, kh, kw, cin] -> [cout, cin, kh, kw]
            weight = weight.transpose(0, 3, 1, 2)
            groups = 1
        kh, kw = ((k - 1) * dilation + 1 for k in weight.shape[2:])  # the dilated window's extent
        pad = src.pad
        if not pad:  # SAME padding: symmetric in the kernel, uneven as a frame of the input's zero point
            pads = self._same_pad(o.Padding(), h, w, kh, kw, o.StrideH())
            pad = pads[0] if len(set(pads)) == 1 else 0
            if not pad:
                src = self._padded(src, pads, self.act_quant(ins[0])[1])
        attrs = {"stride": int(o.StrideH()), "pad": pad, "groups": groups}
        return self._affine("conv2d", src, ins, out, weight, o.FusedActivationFunction(),
                            attrs | ({"dilation": dilation} if dilation != 1 else {}), "nhwc")

    def _same_pad(self, padding: int, h: int, w: int, kh: int, kw: int, stride: int) -> list[int]:
        """[top, bottom, left, right] of TFLite's padding (SAME: the odd one at the bottom or right)."""
        if padding == self.s.Padding.VALID:
            return [0, 0, 0, 0]
        totals = [max((-(-size // stride) - 1) * stride + k - size, 0) for size, k in ((h, kh), (w, kw))]
        return [totals[0] // 2, totals[0] - totals[0] // 2, totals[1] // 2, totals[1] - totals[1] // 2]

    def _padded(self, src: _Value, pads: list[int], value: int) -> _Value:
        """``src`` (NHWC) framed by ``value``: a ``pad`` operator when any of ``pads`` is not 0."""
        if not any(pads):
            return src
        c, h, w = self.tensors[src.name].shape
        tensor = self.tensors[src.name]
        shape = (c, h + pads[0] + pads[1], w + pads[2] + pads[3])
        return _Value(self.emit("pad", [src.name], shape, (tensor.scale, tensor.zero_point),
                                {"pads": [int(p) for p in pads], "value": int(value)}), "nhwc")

    def _affine(self, kind: str, src: _Value, ins: list[int], out: int, weight: np.ndarray, act: int,
                attrs: dict[str, Any], layout: str) -> _Value:
        s_in, z_in = self.act_quant(ins[0])
        s_out, z_out = self.act_quant(out)
        w_scales, w_zps = self.quant(ins[1])
        if np.any(w_zps):
            raise InputError(f"micro: {kind} weights need zero point 0 (symmetric)")
        cout = weight.shape[0]
        w_scales = np.broadcast_to(w_scales, (cout,))
        bias = self.const(ins[2], np.int32) if len(ins) > 2 else None
        if kind == "dense" and len(set(w_scales.tolist())) == 1 and len(self.quant(ins[1])[0]) == 1:
            # per-tensor FULLY_CONNECTED: TFLite multiplies the two float32 scales in float32
            factors = [float(np.float32(s_in) * w_scales[0]) / s_out] * cout
        else:
            factors = [s_in * float(s) / s_out for s in w_scales]
        pairs = [quantize_multiplier(m) for m in factors]
        arrays = {"weight": np.ascontiguousarray(weight, dtype=np.int8),
                  "bias": np.zeros(cout, np.int32) if bias is None else bias.astype(np.int32).reshape(-1),
                  "mult": np.array([p[0] for p in pairs], np.int32),
                  "shift": np.array([p[1] for p in pairs], np.int32)}
        if act not in _ACT:
            raise InputError(f"micro: fused activation {act} is not supported (NONE, RELU, RELU6)")
        attrs = attrs | {"in_zp": z_in, "out_zp": z_out} | tflite_clamps(_ACT[act], s_out, z_out)
        shape = self.shape(out)
        ours = (shape[3], shape[1], shape[2]) if kind == "conv2d" else (int(np.prod(shape[1:])),)
        name = self.emit(kind, [src.name], ours, (s_out, z_out), attrs, arrays)
        return _Value(name, layout)

    def op_conv_2d(self, op: Any, ins: list[int], out: int) -> _Value:
        return self._conv(op, ins, out, depthwise=False)

    def op_depthwise_conv_2d(self, op: Any, ins: list[int], out: int) -> _Value:
        return self._conv(op, ins, out, depthwise=True)

    def op_fully_connected(self, op: Any, ins: list[int], out: int) -> _Value:
        o = self.options(op, "FullyConnectedOptions")
        src = self.value(ins[0], "FULLY_CONNECTED")
        weight = self.const(ins[1], np.int8)
        if weight is None or o.WeightsFormat() != 0:
            raise InputError("micro: FULLY_CONNECTED needs constant int8 weights in the default format")
        if src.layout == "nhwc" or src.hwc:  # TFLite flattens (h, w, c); heiti's memory is (c, h, w)
            c, h, w = src.hwc or self.tensors[src.name].shape
            weight = weight.reshape(-1, h, w, c).transpose(0, 3, 1, 2).reshape(len(weight), -1)
        return self._affine("dense", src, ins, out, weight, o.FusedActivationFunction(), {}, "flat")

    def _pool(self, op: Any, ins: list[int], out: int, kind: str) -> _Value:
        name = "MAX_POOL_2D" if kind == "maxpool" else "AVERAGE_POOL_2D"
        o = self.options(op, "Pool2DOptions")
        src = self.value(ins[0], name, "nhwc")
        c, h, w = self.tensors[src.name].shape
        kh, kw, stride = o.FilterHeight(), o.FilterWidth(), o.StrideH()
        pads = self._same_pad(o.Padding(), h, w, kh, kw, stride)
        if o.StrideW() != stride or (kind == "avgpool" and any(pads)):
            raise InputError(f"micro: {name} needs equal strides" + (" and no padding (TFLM averages the "
                             "inside of the window only)" if kind == "avgpool" else ""))
        if any(pads):  # the maximum over the window's inside: the frame holds the smallest int8
            src = self._padded(src, pads, -128)
            c, h, w = self.tensors[src.name].shape
        if kind == "maxpool" and kh != kw:
            raise InputError("micro: MAX_POOL_2D needs a square window")
        quant = self.act_quant(out)
        if quant != self.act_quant(ins[0]):
            raise InputError(f"micro: {name} must keep its input's scale and zero point")
        attrs = {"kernel": kh, "stride": stride} if kind == "maxpool" else \
            {"kh": kh, "kw": kw, "stride": stride, "mode": "round"}
        attrs |= tflite_clamps(_ACT.get(o.FusedActivationFunction(), "?"), *quant)
        shape = (c, (h - kh) // stride + 1, (w - kw) // stride + 1)
        return _Value(self.emit(kind, [src.name], shape, quant, attrs), "nhwc")

    def op_max_pool_2d(self, op: Any, ins: list[int], out: int) -> _Value:
        return self._pool(op, ins, out, "maxpool")

    def op_average_pool_2d(self, op: Any, ins: list[int], out: int) -> _Value:
        return self._pool(op, ins, out, "avgpool")

    def op_mean(self, op: Any, ins: list[int], out: int) -> _Value:
        src = self.value(ins[0], "MEAN")
        axes = sorted(int(a) % 4 for a in np.atleast_1d(self.const(ins[1], np.int32)))
        spatial = [1, 2] if src.layout == "nhwc" else [2, 3]
        if axes != spatial:
            raise InputError("micro: MEAN is supported over height and width")
        (s_in, z_in), (s_out, z_out) = self.act_quant(ins[0]), self.act_quant(out)
        c, h, w = self.tensors[src.name].shape
        attrs: dict[str, Any] = {"kh": h, "kw": w, "stride": 1, "in_zp": z_in, "out_zp": z_out}
        # TFLM's QuantizedMeanOrSum, also when the scales are equal
        mult, shift = mean_multiplier(*quantize_multiplier(s_in / s_out), h * w)
        attrs["mode"] = "requant"
        arrays = {"mult": np.array([mult], np.int32), "shift": np.array([shift], np.int32)}
        pooled = self.emit("avgpool", [src.name], (c, 1, 1), (s_out, z_out), attrs, arrays)
        if self.options(op, "ReducerOptions").KeepDims():  # TFLM computes int8 MEAN alike either way
            return _Value(pooled, src.layout)
        return _Value(self.emit("reshape", [pooled], (c,), (s_out, z_out), {"shape": [c]}), "flat")

    def _operand(self, index: int, name: str, layout: str, rank: int) -> tuple[str | None, np.ndarray | None]:
        """An operand of a broadcasting operator in heiti's order for an output of ``layout``: a
        graph tensor (reshaped when its TFLite shape relabels it) or a constant int8 array."""
        dims = (1,) * (rank - len(self.shape(index))) + self.shape(index)  # right-aligned, as TFLite
        ours = (dims[3], dims[1], dims[2]) if layout == "nhwc" else dims[1:]
        constant = self.const(index, np.int8) if index not in self.values else None
        if constant is not None:
            data = constant.reshape(dims)[0]
            return None, np.ascontiguousarray(data.transpose(2, 0, 1) if layout == "nhwc" else data)
        src = self.value(index, name)
        vector = sum(d > 1 for d in ours) <= 1  # one memory order whatever the layout
        if src.hwc or (src.layout != layout and not vector):
            raise InputError(f"micro: {name} of tensors in different layouts ({src.layout}, {layout}) "
                             "is not supported")
        if self.tensors[src.name].shape == ours:
            return src.name, None
        quant = (self.tensors[src.name].scale, self.tensors[src.name].zero_point)
        return self.emit("reshape", [src.name], ours, quant, {"shape": list(ours)}), None

    def _binary(self, kind: str, name: str, ins: list[int], out: int, act: int,
                attrs: dict[str, Any], arrays: dict[str, np.ndarray]) -> _Value:
        """ADD or MUL: two operands broadcast as TFLite does (a constant one becomes the
        operator's array ``operand``)."""
        rank = len(self.shape(out))
        computed = [self.values[i] for i in ins if i in self.values]
        full = [self.values[i] for i in ins if i in self.values and self.shape(i) == self.shape(out)]
        if not computed or rank not in (2, 4) or (rank == 4 and (full or computed)[0].layout == "flat"):
            raise InputError(f"micro: {name} needs a computed operand shaped like its output "
                             f"(got {[list(self.shape(i)) for i in ins]})")
        layout = (full or computed)[0].layout if rank == 4 else "flat"
        names, constants = zip(*(self._operand(i, name, layout, rank) for i in ins), strict=True)
        if names[0] is None:  # heiti's constant operand comes second; both operators commute
            names, constants = names[::-1], constants[::-1]
            attrs["in_zp"] = attrs["in_zp"][::-1]
            if kind == "add":
                arrays = {k: v[[1, 0, 2]] for k, v in arrays.items()}
        if names[1] is None:
            arrays = arrays | {"operand": constants[1]}
        if names[0] is None:
            raise InputError(f"micro: {name} of two constants is not supported")
        s_out, z_out = self.act_quant(out)
        attrs |= tflite_clamps(_ACT.get(act, "?"), s_out, z_out)
        shape = self.shape(out)
        ours = (shape[3], shape[1], shape[2]) if layout == "nhwc" else shape[1:]
        inputs = [n for n in names if n is not None]
        return _Value(self.emit(kind, inputs, ours, (s_out, z_out), attrs, arrays), layout)

    def op_add(self, op: Any, ins: list[int], out: int) -> _Value:
        (s_a, z_a), (s_b, z_b), (s_out, _) = (self.act_quant(i) for i in (*ins, out))
        attrs = {"in_zp": [z_a, z_b], "out_zp": self.act_quant(out)[1], "left_shift": ADD_LEFT_SHIFT}
        return self._binary("add", "ADD", ins, out, self.options(op, "AddOptions").FusedActivationFunction(),
                            attrs, tflite_add_arrays(s_a, s_b, s_out))

    def op_mul(self, op: Any, ins: list[int], out: int) -> _Value:
        (s_a, z_a), (s_b, z_b), (s_out, z_out) = (self.act_quant(i) for i in (*ins, out))
        # TFLM: the product of the float32 scales in double precision
        mult, shift = quantize_multiplier(float(s_a) * float(s_b) / float(s_out))
        arrays = {"mult": np.array([mult], np.int32), "shift": np.array([shift], np.int32)}
        return self._binary("mul", "MUL", ins, out, self.options(op, "MulOptions").FusedActivationFunction(),
                            {"in_zp": [z_a, z_b], "out_zp": z_out}, arrays)

    def op_concatenation(self, op: Any, ins: list[int], out: int) -> _Value:
        o = self.options(op, "ConcatenationOptions")
        sources = [self.value(i, "CONCATENATION") for i in ins]
        quant = self.act_quant(out)
        if any(self.act_quant(i) != quant for i in ins) or o.FusedActivationFunction():
            raise InputError("micro: CONCATENATION needs every int8 input on the output's scale and zero "
                             "point and no fused activation (as TFLM requires)")
        layout = sources[0].layout
        if any(v.layout != layout or v.hwc for v in sources):
            raise InputError("micro: CONCATENATION of tensors in different layouts is not supported")
        rank = len(self.shape(out))
        axis = o.Axis() % rank
        ours = {"nhwc": {1: 1, 2: 2, 3: 0}, "nchw": {1: 0, 2: 1, 3: 2}}.get(layout, {1: 0}).get(axis)
        if axis == 0 or ours is None:
            raise InputError(f"micro: CONCATENATION along axis {o.Axis()} of a rank-{rank} tensor is not "
                             "supported")
        names = [v.name for v in sources]
        shape = unit("concat").infer_shape([self.tensors[n].shape for n in names], {"axis": ours}, {})
        return _Value(self.emit("concat", names, shape, quant, {"axis": ours}), layout)

    def op_resize_nearest_neighbor(self, op: Any, ins: list[int], out: int) -> _Value:
        from heiti.micro.ops.resize_nearest import nearest

        o = self.options(op, "ResizeNearestNeighborOptions")
        src = self.value(ins[0], "RESIZE_NEAREST_NEIGHBOR", "nhwc")
        size = self.const(ins[1], np.int32)
        if size is None:
            raise InputError("micro: RESIZE_NEAREST_NEIGHBOR needs a constant size (as TFLM does)")
        c, h, w = self.tensors[src.name].shape
        oh, ow = (int(v) for v in size.reshape(-1))
        align, half = bool(o.AlignCorners()), bool(o.HalfPixelCenters())
        arrays = {"rows": nearest(oh, h, align, half), "cols": nearest(ow, w, align, half)}
        return _Value(self.emit("resize_nearest", [src.name], (c, oh, ow), self.act_quant(out), {}, arrays),
                      "nhwc")

    def op_pad(self, op: Any, ins: list[int], out: int) -> _Value:
        # the model input is a TFLite (NHWC) tensor: its samples go to CHW first, as for a
        # convolution (read without a layout, NHWC samples would pass for NCHW ones)
        found = self.values.get(ins[0])
        src = self.value(ins[0], "PAD", "nhwc" if found is not None and found.samples_hwc else None)
        pads = self.const(ins[1], np.int32)
        if pads is None or self.const(ins[1], np.int32).dtype != np.int32:
            raise InputError("micro: PAD needs constant paddings")
        spatial = {"nhwc": [1, 2], "nchw": [2, 3]}.get(src.layout)
        pads = pads.reshape(-1, 2)
        others = [k for k in range(len(pads)) if k not in (spatial or [])]
        if spatial is None or len(pads) != 4 or src.hwc or pads[others].any():
            raise InputError("micro: PAD pads the height and width of a 4-D tensor only")
        if self.act_quant(ins[0]) != self.act_quant(out):
            raise InputError("micro: PAD must keep its input's scale and zero point")
        sides = [int(v) for v in pads[spatial].reshape(-1)]
        if len(set(sides)) == 1 and src.layout == "nhwc":  # a convolution reading it takes the padding
            return _Value(src.name, "nhwc", pad=sides[0])
        padded = self._padded(src, sides, self.act_quant(out)[1])  # TFLM pads int8 with the zero point
        return _Value(padded.name, src.layout)

    def op_softmax(self, op: Any, ins: list[int], out: int) -> _Value:
        from heiti.micro.ops import softmax

        src = self.value(ins[0], "SOFTMAX")
        shape = self.tensors[src.name].shape
        if len(shape) != 1 and int(np.prod(shape)) != shape[0]:
            raise InputError("micro: SOFTMAX is supported over a vector (after FULLY_CONNECTED or a "
                             f"global pooling), not over a {list(shape)} tensor")
        quant = self.act_quant(out)
        if quant != softmax.OUTPUT:
            raise InputError(f"micro: an int8 SOFTMAX outputs scale 1/256 and zero point -128 (got {quant})")
        beta = float(self.options(op, "SoftmaxOptions").Beta())
        attrs = softmax.parameters(self.act_quant(ins[0])[0], beta)
        return _Value(self.emit("softmax", [src.name], shape, quant, attrs), src.layout, src.hwc)

    def op_logistic(self, op: Any, ins: list[int], out: int) -> _Value:
        from heiti.micro.ops import logistic

        src = self.value(ins[0], "LOGISTIC")
        quant = self.act_quant(out)
        if quant != logistic.OUTPUT:
            raise InputError(f"micro: an int8 LOGISTIC outputs scale 1/256 and zero point -128 (got {quant})")
        attrs = logistic.parameters(*self.act_quant(ins[0]))
        return _Value(self.emit("logistic", [src.name], self.tensors[src.name].shape, quant, attrs),
                      src.layout, src.hwc)

    def op_quantize(self, op: Any, ins: list[int], out: int) -> _Value:
        from heiti.micro.quantize import quantize_multiplier

        src = self.value(ins[0], "QUANTIZE")
        (s_in, z_in), (s_out, z_out) = self.act_quant(ins[0], (_INT8, _UINT8)), self.act_quant(out)
        mult, shift = quantize_multiplier(s_in / s_out)
        arrays = {"mult": np.array([mult], np.int32), "shift": np.array([shift], np.int32)}
        name = self.emit("requantize", [src.name], self.tensors[src.name].shape, (s_out, z_out),
                         {"in_zp": z_in, "out_zp": z_out}, arrays)
        return _Value(name, src.layout, src.hwc, samples_hwc=src.samples_hwc)

    def op_dequantize(self, op: Any, ins: list[int], out: int) -> _Value:
        if out not in [int(i) for i in self.sub.OutputsAsNumpy()]:
            raise InputError("micro: DEQUANTIZE is supported as the model's last operator only (the host "
                             "dequantizes the int8 output)")
        return self.value(ins[0], "DEQUANTIZE")

    def _elementwise(self, kind: str, name: str, ins: list[int], out: int, attrs: dict[str, Any]) -> _Value:
        """A unary operator applied value by value: any layout, the output on its own grid."""
        src = self.value(ins[0], name)
        return _Value(self.emit(kind, [src.name], self.tensors[src.name].shape, self.act_quant(out), attrs),
                      src.layout, src.hwc)

    def op_tanh(self, op: Any, ins: list[int], out: int) -> _Value:
        from heiti.micro.ops import tanh

        return self._elementwise("tanh", "TANH", ins, out, tanh.parameters(*self.act_quant(ins[0])))

    def op_hard_swish(self, op: Any, ins: list[int], out: int) -> _Value:
        from heiti.micro.ops import hard_swish

        attrs = hard_swish.parameters(*self.act_quant(ins[0]), *self.act_quant(out))
        return self._elementwise("hard_swish", "HARD_SWISH", ins, out, attrs)

    def op_relu(self, op: Any, ins: list[int], out: int, act: str = "relu") -> _Value:
        src = self.value(ins[0], act.upper())
        quant = self.act_quant(out)
        if quant != self.act_quant(ins[0]):
            raise InputError(f"micro: {act.upper()} must keep its input's scale and zero point")
        return _Value(self.emit("clamp", [src.name], self.tensors[src.name].shape, quant,
                                tflite_clamps(act, *quant)), src.layout, src.hwc)

    def op_relu6(self, op: Any, ins: list[int], out: int) -> _Value:
        return self.op_relu(op, ins, out, "relu6")

    def op_transpose(self, op: Any, ins: list[int], out: int) -> _Value:
        src = self.value(ins[0], "TRANSPOSE")
        perm = tuple(np.atleast_1d(self.const(ins[1], np.int32)).tolist())
        turns = {("nchw", (0, 2, 3, 1)): "nhwc", ("nhwc", (0, 3, 1, 2)): "nchw"}
        layout = turns.get((src.layout, perm))
        if layout is None:
            raise InputError(f"micro: TRANSPOSE {list(perm)} of an {src.layout.upper()} tensor is not "
                             "supported (only NCHW <-> NHWC)")
        return _Value(src.name, layout)

    def op_reshape(self, op: Any, ins: list[int], out: int) -> _Value:
        src = self.value(ins[0], "RESHAPE")
        ours = self.tensors[src.name].shape
        target = self.shape(out)[1:]
        same_memory = src.layout != "nhwc" or ours[0] == 1 or ours[1] * ours[2] == 1
        quant = self.act_quant(out)
        if len(target) == 1:
            hwc = src.hwc if same_memory else (ours[0], ours[1], ours[2])
            shape = (int(target[0]),)
            layout = "flat"
        elif len(target) == 2 and src.layout == "flat" and not src.hwc:  # e.g. windows (channels, length)
            shape, layout, hwc = tuple(int(d) for d in target), "flat", None
        elif len(target) == 3 and same_memory and not src.hwc:
            h, w, c = target  # an NHWC view when memory allows it (TFLite's kernels are NHWC)
            nhwc = c == 1 or h * w == 1
            shape, layout, hwc = ((c, h, w), "nhwc", None) if nhwc else (tuple(target), "nchw", None)
        else:
            raise InputError(f"micro: RESHAPE of {list(self.shape(ins[0]))} to {list(self.shape(out))} "
                             "is not supported (flattening, or views that keep the memory order)")
        if shape == ours:
            return _Value(src.name, layout, hwc)
        return _Value(self.emit("reshape", [src.name], shape, quant, {"shape": list(shape)}), layout, hwc)


# TFLite builtin operator -> the reader's method, which emits the units (micro/ops) it maps to
OPERATORS = {
    "CONV_2D": _Reader.op_conv_2d, "DEPTHWISE_CONV_2D": _Reader.op_depthwise_conv_2d,
    "FULLY_CONNECTED": _Reader.op_fully_connected, "MAX_POOL_2D": _Reader.op_max_pool_2d,
    "AVERAGE_POOL_2D": _Reader.op_average_pool_2d, "MEAN": _Reader.op_mean, "ADD": _Reader.op_add,
    "MUL": _Reader.op_mul, "CONCATENATION": _Reader.op_concatenation,
    "RESIZE_NEAREST_NEIGHBOR": _Reader.op_resize_nearest_neighbor,
    "PAD": _Reader.op_pad, "RELU": _Reader.op_relu, "RELU6": _Reader.op_relu6,
    "TRANSPOSE": _Reader.op_transpose, "RESHAPE": _Reader.op_reshape, "SOFTMAX": _Reader.op_softmax,
    "LOGISTIC": _Reader.op_logistic,
    "QUANTIZE": _Reader.op_quantize, "DEQUANTIZE": _Reader.op_dequantize,
    "TANH": _Reader.op_tanh, "HARD_SWISH": _Reader.op_hard_swish,
}


def import_tflite(path: Path, input_shape: Sequence[int] | Sequence[Sequence[int]]) -> Graph:
    """The integer graph (tflite scheme) of an int8 ``.tflite`` file; ``input_shape``: the
    dataset's sample shape, or a list of them for a model with several inputs (in its order)."""
    from heiti.frameworks.tflite_verify import read_verified

    data = read_verified(path, "micro")
    try:
        several = bool(input_shape) and not isinstance(input_shape[0], int | np.integer)
        shapes = [tuple(shape) for shape in input_shape] if several else [tuple(input_shape)]  # type: ignore[arg-type]
        graph = _Reader(data, shapes).run()
    except InputError as exc:  # what is wrong, and in which file
        raise InputError(f"micro: '{path}': {exc.message.removeprefix('micro: ')}", hint=exc.hint) from None
    except Exception as exc:  # a well-formed flatbuffer whose values make no model
        raise InputError(f"micro: '{path}' is not a model heiti can import: "
                         f"{type(exc).__name__}: {exc}") from None
    problem = graph.problem()
    if problem:
        raise InputError(f"micro: the graph imported from '{path}' is inconsistent: {problem}")
    return graph
