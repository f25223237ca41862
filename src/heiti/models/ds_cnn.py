"""Depthwise-separable CNN for keyword spotting, the shape of MLPerf Tiny's DS-CNN."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from heiti.core.component import Params
from heiti.models.torch_model import TorchModel


class DSCNNParams(Params):
    channels: int = Field(64, ge=4, le=512, description="channels of every layer (MLPerf Tiny: 64)")
    blocks: int = Field(4, ge=1, le=12, description="depthwise-separable blocks (MLPerf Tiny: 4)")
    first_kernel: tuple[int, int] = Field((10, 4), description="time x frequency kernel of the "
                                          "first convolution (stride 2)")
    dropout: float = Field(0.2, ge=0, lt=1)


class DSCNN(TorchModel):
    """DS-CNN keyword spotter: a strided convolution over the (time x coefficient) feature
    image, blocks of 3x3 depthwise and 1x1 pointwise convolutions with batch norm and ReLU,
    global average pooling and one dense layer.

    Unlike MLPerf Tiny's TensorFlow model the padding is symmetric (one row and column on
    each side), the form heiti micro's kernels run; the input is ``(1, frames, coefficients)``.
    """

    name = "ds-cnn"
    Params = DSCNNParams

    def build(self, input_shape: tuple[int, ...], num_classes: int) -> Any:
        from torch import nn

        width = self.params.channels

        def conv(cin: int, kernel: tuple[int, int], stride: int, groups: int) -> list[nn.Module]:
            padding = 1 if max(kernel) > 1 else 0
            return [nn.Conv2d(cin, width, kernel, stride, padding, groups=groups, bias=False),
                    nn.BatchNorm2d(width), nn.ReLU()]

        layers = conv(input_shape[0], self.params.first_kernel, 2, 1)
        for _ in range(self.params.blocks):
            layers += conv(width, (3, 3), 1, width) + conv(width, (1, 1), 1, 1)
        layers += [nn.Dropout(self.params.dropout), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                   nn.Linear(width, num_classes)]
        return nn.Sequential(*layers)
