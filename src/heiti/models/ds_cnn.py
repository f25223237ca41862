"""Depthwise-separable CNN for keyword spotting, the shape of MLPerf Tiny's DS-CNN."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from heiti.core.component import Params
from heiti.models.torch_model import TorchModel


class DsCnnParams(Params):
    channels: int = Field(64, ge=4, le=512, description="channels of every layer (MLPerf Tiny: 64)")
    blocks: int = Field(4, ge=1, le=12, description="depthwise-separable blocks (MLPerf Tiny: 4)")
    first_kernel: tuple[int, int] = Field((10, 4), description="time x frequency kernel of the first "
                                          "convolution (MLPerf Tiny: 10x4; cut to the input's size)")
    first_stride: int = Field(2, ge=1, le=2, description="stride of the first convolution")
    dropout: float = Field(0.2, ge=0, lt=1, description="dropout before pooling (training only)")


class DsCnn(TorchModel):
    """DS-CNN keyword spotter (Hello Edge, MLPerf Tiny): a strided convolution over the
    (time x coefficient) feature image, blocks of 3x3 depthwise and 1x1 pointwise
    convolutions, each with batch norm and ReLU, global average pooling and a linear layer.

    Unlike MLPerf Tiny's TensorFlow model the first convolution does not pad and the
    depthwise ones pad one row and column on each side (symmetric, the form heiti micro's
    kernels run); the input is ``(1, frames, coefficients)`` (any one-channel image works).
    """

    name = "ds-cnn"
    Params = DsCnnParams

    def build(self, input_shape: tuple[int, ...], num_classes: int) -> Any:
        from torch import nn

        c = self.params.channels

        def conv_bn(cin: int, kernel: tuple[int, int], stride: int = 1, groups: int = 1,
                    padding: int = 1) -> list[Any]:
            return [nn.Conv2d(cin, c, kernel, stride, padding, groups=groups, bias=False),
                    nn.BatchNorm2d(c), nn.ReLU()]

        channels, height, width = input_shape
        first = (min(self.params.first_kernel[0], height), min(self.params.first_kernel[1], width))
        # no padding on the input: a constant offset in the features (the byte form of
        # int8 features) then only shifts each output channel, which batch norm absorbs
        layers = conv_bn(channels, first, self.params.first_stride, padding=0)
        for _ in range(self.params.blocks):
            layers += conv_bn(c, (3, 3), groups=c) + conv_bn(c, (1, 1), padding=0)
        layers += [nn.Dropout(self.params.dropout), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                   nn.Linear(c, num_classes)]
        return nn.Sequential(*layers)
