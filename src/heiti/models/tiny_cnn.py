"""A compact CNN for small images such as the 8x8 digits."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from heiti.core.component import Params
from heiti.models.torch_model import TorchModel


class TinyCNNParams(Params):
    channels: list[int] = Field([16, 32], min_length=1, max_length=8,
                                description="output channels of each conv block (their count is the depth)")
    kernel_size: int = Field(3, ge=1, le=7, description="kernel size of every convolution (odd)")
    residual: bool = Field(False, description="each block adds a second convolution with an "
                           "identity shortcut (a residual add)")
    hidden: int = Field(64, ge=0, description="width of the hidden dense layer (0: none)")
    dropout: float = Field(0.1, ge=0, lt=1)

    @field_validator("channels")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if min(value) < 1:
            raise ValueError("every block needs at least 1 channel")
        return value

    @field_validator("kernel_size")
    @classmethod
    def _odd(cls, value: int) -> int:
        if value % 2 == 0:
            raise ValueError("kernel_size must be odd ('same' padding keeps the feature map's size)")
        return value


class TinyCNN(TorchModel):
    """Compact CNN: blocks of conv, batch norm, ReLU (optionally a residual conv) and 2x2
    max pooling, then a small classifier head. Pooling stops once the feature map is 2x2."""

    name = "tiny-cnn"
    Params = TinyCNNParams

    def build(self, input_shape: tuple[int, ...], num_classes: int) -> Any:
        from torch import nn

        k = self.params.kernel_size

        def conv_bn(cin: int, cout: int) -> list[Any]:
            return [nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

        class Residual(nn.Module):  # the micro importer reads 'body' and 'residual'
            def __init__(self, channels: int):
                super().__init__()
                self.body, self.residual = nn.Sequential(*conv_bn(channels, channels)), True

            def forward(self, x: Any) -> Any:
                return x + self.body(x)

        in_channels, height, width = input_shape
        layers: list[nn.Module] = []
        for out_channels in self.params.channels:
            layers += conv_bn(in_channels, out_channels)
            if self.params.residual:
                layers.append(Residual(out_channels))
            if min(height, width) >= 4:
                layers.append(nn.MaxPool2d(2))
                height, width = height // 2, width // 2
            in_channels = out_channels
        layers.append(nn.Flatten())
        features = in_channels * height * width
        if self.params.hidden:
            layers += [nn.Linear(features, self.params.hidden), nn.ReLU(), nn.Dropout(self.params.dropout)]
            features = self.params.hidden
        layers.append(nn.Linear(features, num_classes))
        return nn.Sequential(*layers)
