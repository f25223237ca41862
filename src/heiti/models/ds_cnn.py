"""Depthwise-separable CNN in the style of keyword-spotting networks (DS-CNN)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from heiti.core.component import Params
from heiti.models.torch_model import TorchModel


class DsCnnParams(Params):
    channels: int = Field(32, ge=4, description="channels of every layer")
    blocks: int = Field(3, ge=1, le=8, description="depthwise-separable blocks")
    first_stride: int = Field(1, ge=1, le=2, description="stride of the first convolution")


class DsCnn(TorchModel):
    """DS-CNN as used for keyword spotting on microcontrollers (Hello Edge, MLPerf Tiny):
    a 3x3 convolution, then blocks of a 3x3 depthwise and a 1x1 pointwise convolution, each
    with batch norm and ReLU, global average pooling and a linear classifier."""

    name = "ds-cnn"
    Params = DsCnnParams

    def build(self, input_shape: tuple[int, ...], num_classes: int) -> Any:
        from torch import nn

        c = self.params.channels

        def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> list[Any]:
            return [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
                    nn.BatchNorm2d(cout), nn.ReLU()]

        layers = conv_bn(input_shape[0], c, 3, self.params.first_stride)
        for _ in range(self.params.blocks):
            layers += conv_bn(c, c, 3, groups=c) + conv_bn(c, c, 1)
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes)]
        return nn.Sequential(*layers)
