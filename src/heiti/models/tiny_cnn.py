"""A compact CNN for small images such as the 8x8 digits."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from heiti.core.component import Params
from heiti.models.torch_model import TorchModel


class TinyCNNParams(Params):
    channels: list[int] = Field([16, 32], min_length=1, description="output channels of each conv block")
    hidden: int = Field(64, ge=0, description="width of the hidden dense layer (0: none)")
    dropout: float = Field(0.1, ge=0, lt=1)


class TinyCNN(TorchModel):
    """Compact CNN: blocks of 3x3 conv, batch norm, ReLU and 2x2 max pooling, then a
    small classifier head. Pooling stops once the feature map is 2x2."""

    name = "tiny-cnn"
    Params = TinyCNNParams

    def build(self, input_shape: tuple[int, ...], num_classes: int) -> Any:
        from torch import nn

        in_channels, height, width = input_shape
        layers: list[nn.Module] = []
        for out_channels in self.params.channels:
            layers += [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                       nn.BatchNorm2d(out_channels), nn.ReLU()]
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
