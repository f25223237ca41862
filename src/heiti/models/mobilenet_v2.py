"""MobileNetV2-style network with width and depth multipliers, sized for small inputs."""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field

from heiti.core.component import Params
from heiti.models.torch_model import TorchModel

# (expansion, output channels, repeats, stride) of the original MobileNetV2 stages
STAGES = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
          (6, 160, 3, 2), (6, 320, 1, 1)]


class MobileNetV2Params(Params):
    width: float = Field(0.5, gt=0, le=2, description="channel multiplier")
    depth: float = Field(0.5, gt=0, le=2, description="multiplier of the repeats per stage")
    stages: int = Field(7, ge=1, le=7, description="how many of the seven stages to keep")
    last_channels: int = Field(256, ge=8, description="channels of the final 1x1 conv")
    dropout: float = Field(0.2, ge=0, lt=1)


def _round_channels(channels: float, divisor: int = 8) -> int:
    return max(divisor, int(channels + divisor / 2) // divisor * divisor)


class MobileNetV2(TorchModel):
    """MobileNetV2-style classifier: inverted residual blocks (1x1 expand, 3x3 depthwise,
    1x1 project, ReLU6), scaled by ``width`` and ``depth``. Strides are dropped where the
    feature map would shrink below 2x2, so small inputs (8x8 to 64x64) work."""

    name = "mobilenet-v2"
    Params = MobileNetV2Params

    def build(self, input_shape: tuple[int, ...], num_classes: int) -> Any:
        from torch import nn

        def conv_bn(cin: int, cout: int, kernel: int, stride: int, groups: int = 1, act: bool = True):
            layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
                      nn.BatchNorm2d(cout)]
            return layers + [nn.ReLU6()] if act else layers

        class InvertedResidual(nn.Module):
            def __init__(self, cin: int, cout: int, stride: int, expansion: int):
                super().__init__()
                hidden = cin * expansion
                layers = conv_bn(cin, hidden, 1, 1) if expansion != 1 else []
                layers += conv_bn(hidden, hidden, 3, stride, groups=hidden)
                layers += conv_bn(hidden, cout, 1, 1, act=False)
                self.body = nn.Sequential(*layers)
                self.residual = stride == 1 and cin == cout

            def forward(self, x):
                return x + self.body(x) if self.residual else self.body(x)

        in_channels, height, _ = input_shape
        size = height
        stem_stride = 2 if size >= 16 else 1
        size //= stem_stride
        channels = _round_channels(32 * self.params.width)
        layers: list[nn.Module] = conv_bn(in_channels, channels, 3, stem_stride)
        for expansion, out, repeats, stride in STAGES[: self.params.stages]:
            out = _round_channels(out * self.params.width)
            for i in range(max(1, math.ceil(repeats * self.params.depth))):
                step = stride if (i == 0 and size // stride >= 2) else 1
                size //= step
                layers.append(InvertedResidual(channels, out, step, expansion))
                channels = out
        layers += conv_bn(channels, self.params.last_channels, 1, 1)
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(self.params.dropout),
                   nn.Linear(self.params.last_channels, num_classes)]
        return nn.Sequential(*layers)
