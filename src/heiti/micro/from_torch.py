"""PyTorch module → float graph (same operators as the integer graph, float weights).

Batch norm is folded into the convolution before it, ReLU/ReLU6 are fused into the
operator that produces their input, dropout disappears. Anything else is rejected
here, at optimize time, with the module's name and what is supported.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from heiti.errors import InputError
from heiti.micro.floatgraph import FloatBuilder
from heiti.micro.graph import Graph

SUPPORTED = ("Sequential, Conv2d (dilation 1, groups 1 or depthwise, symmetric zero padding), "
             "BatchNorm2d after a Conv2d, ReLU, ReLU6, MaxPool2d and AvgPool2d (no padding), "
             "AdaptiveAvgPool2d(1), Flatten, Unflatten, Dropout, Identity, Linear, "
             "Upsample (nearest, whole factors), Tanh and Hardswish (tflite schemes), and blocks with "
             "'body' and 'residual' attributes (residual add)")


def from_torch(module: Any, input_shape: tuple[int, ...], input_scale: float, mean: Any = None,
               dtype: str = "uint8") -> Graph:
    """The float graph of a module whose input is raw ``dtype`` integers times ``input_scale``."""
    builder = FloatBuilder(input_shape, input_scale, mean, dtype)
    _walk(module.eval(), builder, "model")
    return builder.finish()


def _reject(path: str, module: Any, why: str) -> InputError:
    return InputError(f"micro: module '{path}' ({type(module).__name__}) is not supported: {why}",
                      hint=f"supported: {SUPPORTED}")


def _walk(module: Any, b: FloatBuilder, path: str) -> None:
    if hasattr(module, "body") and hasattr(module, "residual"):  # heiti's residual blocks
        start = b.current
        _walk(module.body, b, f"{path}.body")
        if module.residual:
            b.add(start, b.current)
            b.name(b.current, path.removeprefix("model."))
        return
    handler = next((MODULES[c.__name__] for c in type(module).__mro__ if c.__name__ in MODULES), None)
    if handler is None:
        raise _reject(path, module, f"no integer kernel for {type(module).__name__}")
    handler(module, b, path)
    if b.current != "input":
        b.name(b.current, path.removeprefix("model."))


def _sequential(module: Any, b: FloatBuilder, path: str) -> None:
    for name, child in module.named_children():
        _walk(child, b, f"{path}.{name}")


def _conv(module: Any, b: FloatBuilder, path: str) -> None:
    ph, pw = module.padding if not isinstance(module.padding, str) else (-1, -1)
    cin = module.in_channels
    if module.dilation != (1, 1) or module.padding_mode != "zeros" or ph != pw or ph < 0:
        raise _reject(path, module, "needs dilation 1 and symmetric zero padding")
    if module.stride[0] != module.stride[1]:
        raise _reject(path, module, "needs equal strides")
    if module.groups != 1 and (module.groups != cin or module.out_channels != cin):
        raise _reject(path, module, "groups must be 1 or depthwise (groups = in = out channels)")
    weight = module.weight.detach().double().numpy()
    bias = (module.bias.detach().double().numpy() if module.bias is not None
            else np.zeros(module.out_channels))
    b.conv(weight, bias, module.stride[0], ph, module.groups)


def _batch_norm(module: Any, b: FloatBuilder, path: str) -> None:
    scale = (module.weight.detach().double() / (module.running_var.double() + module.eps).sqrt()).numpy()
    shift = module.bias.detach().double().numpy() - module.running_mean.double().numpy() * scale
    if not b.fold_affine(scale, shift):
        raise _reject(path, module, "batch norm must directly follow a Conv2d")


def _pool(module: Any, b: FloatBuilder, path: str) -> None:
    maximum = type(module).__name__ == "MaxPool2d"
    k, s = _pair(module.kernel_size), _pair(module.stride or module.kernel_size)
    if _pair(module.padding) != (0, 0) or module.ceil_mode or k[0] != k[1] or s[0] != s[1] or (
            maximum and _pair(module.dilation) != (1, 1)):
        raise _reject(path, module, "needs square windows, equal strides, no padding, floor mode")
    if maximum:
        b.maxpool(k[0], s[0])
    else:
        b.avgpool(k[0], k[1], s[0])


def _global_pool(module: Any, b: FloatBuilder, path: str) -> None:
    if _pair(module.output_size) != (1, 1):
        raise _reject(path, module, "only output size 1 (global average pooling)")
    _, h, w = b.shape
    b.avgpool(h, w, 1)


def _unflatten(module: Any, b: FloatBuilder, path: str) -> None:
    if module.dim not in (1, -len(b.shape)) or len(b.shape) != 1:
        raise _reject(path, module, "only a flat vector unflattened after the batch dimension")
    b.reshape(tuple(int(d) for d in module.unflattened_size))


def _linear(module: Any, b: FloatBuilder, path: str) -> None:
    if len(b.shape) != 1:
        raise _reject(path, module, "Linear needs a flattened input (add nn.Flatten)")
    bias = (module.bias.detach().double().numpy() if module.bias is not None
            else np.zeros(module.out_features))
    b.dense(module.weight.detach().double().numpy(), bias)


def _upsample(module: Any, b: FloatBuilder, path: str) -> None:
    from heiti.micro.ops.resize_nearest import nearest

    factors = _pair(module.scale_factor) if module.scale_factor is not None else (0, 0)
    if module.mode != "nearest" or any(float(f) != int(f) or f < 1 for f in factors):
        raise _reject(path, module, "only mode 'nearest' with whole scale factors")
    _, h, w = b.shape  # PyTorch's nearest: input floor(i * in / out), TFLite's default options
    rows, cols = nearest(h * int(factors[0]), h, False, False), nearest(w * int(factors[1]), w, False, False)
    b.emit("resize_nearest", [b.current], {}, {"rows": rows, "cols": cols})


# PyTorch module class (or a base class of it) -> how it becomes units (micro/ops)
MODULES = {
    "Sequential": _sequential, "Conv2d": _conv, "BatchNorm2d": _batch_norm,
    "ReLU": lambda m, b, path: b.activation("relu"), "ReLU6": lambda m, b, path: b.activation("relu6"),
    "MaxPool2d": _pool, "AvgPool2d": _pool, "AdaptiveAvgPool2d": _global_pool,
    "Flatten": lambda m, b, path: b.reshape((int(np.prod(b.shape)),)), "Unflatten": _unflatten,
    "Dropout": lambda m, b, path: None, "Identity": lambda m, b, path: None, "Linear": _linear,
    "Tanh": lambda m, b, path: b.emit("tanh", [b.current], {}),  # tflite schemes
    "Hardswish": lambda m, b, path: b.emit("hard_swish", [b.current], {}),  # tflite schemes
    "Upsample": _upsample,
}


def _pair(value: Any) -> tuple[int, int]:
    return tuple(value) if isinstance(value, tuple | list) else (value, value)
