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
             "AdaptiveAvgPool2d(1), Flatten, Dropout, Identity, Linear, and blocks with "
             "'body' and 'residual' attributes (residual add)")


def from_torch(module: Any, input_shape: tuple[int, ...], input_scale: float, mean: Any = None) -> Graph:
    builder = FloatBuilder(input_shape, input_scale, mean)
    _walk(module.eval(), builder, "model")
    return builder.finish()


def _reject(path: str, module: Any, why: str) -> InputError:
    return InputError(f"micro: module '{path}' ({type(module).__name__}) is not supported: {why}",
                      hint=f"supported: {SUPPORTED}")


def _walk(module: Any, b: FloatBuilder, path: str) -> None:
    from torch import nn

    kind = type(module).__name__
    if isinstance(module, nn.Sequential):
        for name, child in module.named_children():
            _walk(child, b, f"{path}.{name}")
    elif hasattr(module, "body") and hasattr(module, "residual"):
        start = b.current
        _walk(module.body, b, f"{path}.body")
        if module.residual:
            b.add(start, b.current)
    elif isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
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
    elif isinstance(module, nn.BatchNorm2d):
        scale = (module.weight.detach().double() / (module.running_var.double() + module.eps).sqrt()).numpy()
        shift = module.bias.detach().double().numpy() - module.running_mean.double().numpy() * scale
        if not b.fold_affine(scale, shift):
            raise _reject(path, module, "batch norm must directly follow a Conv2d")
    elif isinstance(module, nn.ReLU | nn.ReLU6):
        b.activation("relu6" if isinstance(module, nn.ReLU6) else "relu")
    elif isinstance(module, nn.MaxPool2d | nn.AvgPool2d):
        k, s = _pair(module.kernel_size), _pair(module.stride or module.kernel_size)
        if _pair(module.padding) != (0, 0) or module.ceil_mode or k[0] != k[1] or s[0] != s[1] or (
                isinstance(module, nn.MaxPool2d) and _pair(module.dilation) != (1, 1)):
            raise _reject(path, module, "needs square windows, equal strides, no padding, floor mode")
        if isinstance(module, nn.MaxPool2d):
            b.maxpool(k[0], s[0])
        else:
            b.avgpool(k[0], k[1], s[0])
    elif isinstance(module, nn.AdaptiveAvgPool2d):
        if _pair(module.output_size) != (1, 1):
            raise _reject(path, module, "only output size 1 (global average pooling)")
        _, h, w = b.shape
        b.avgpool(h, w, 1)
    elif isinstance(module, nn.Flatten):
        b.reshape((int(np.prod(b.shape)),))
    elif isinstance(module, nn.Dropout | nn.Identity):
        pass
    elif isinstance(module, nn.Linear):
        if len(b.shape) != 1:
            raise _reject(path, module, "Linear needs a flattened input (add nn.Flatten)")
        bias = (module.bias.detach().double().numpy() if module.bias is not None
                else np.zeros(module.out_features))
        b.dense(module.weight.detach().double().numpy(), bias)
    else:
        raise _reject(path, module, f"no integer kernel for {kind}")


def _pair(value: Any) -> tuple[int, int]:
    return tuple(value) if isinstance(value, tuple | list) else (value, value)
