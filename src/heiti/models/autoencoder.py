"""A small autoencoder for anomaly detection on sensor windows (channels x length)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from heiti.core.component import Params
from heiti.errors import InputError
from heiti.models.torch_model import TorchModel


class AutoencoderParams(Params):
    variant: Literal["dense", "conv"] = Field(
        "dense", description="dense: fully connected layers on the flattened window; conv: "
        "strided 1-D convolutions down and transposed convolutions up")
    hidden: list[int] = Field([64], min_length=1, description="dense: widths of the hidden "
                              "layers; conv: channels of each stride-2 convolution")
    latent: int = Field(16, ge=1, description="size of the bottleneck code")


class Autoencoder(TorchModel):
    """Reconstructs its input through a narrow code, so windows unlike the (normal) training
    data come back with large errors. Input and output: (channels, length); the conv
    variant halves the length per convolution, so the length must divide by 2**len(hidden).
    Both variants pass the code through a dense bottleneck of ``latent`` units."""

    name = "autoencoder"
    Params = AutoencoderParams
    output_names: ClassVar[tuple[str, ...]] = ("reconstruction",)

    def build(self, input_shape: tuple[int, ...], num_classes: int) -> Any:
        if len(input_shape) != 2:
            raise InputError(f"the autoencoder takes windows shaped (channels, length), the "
                             f"dataset gives samples shaped {tuple(input_shape)}")
        return self._conv(*input_shape) if self.params.variant == "conv" else self._dense(*input_shape)

    def _dense(self, channels: int, length: int) -> Any:
        from torch import nn

        widths = [channels * length, *self.params.hidden]
        down = [layer for a, b in zip(widths, widths[1:], strict=False)
                for layer in (nn.Linear(a, b), nn.ReLU())]
        up = [layer for a, b in zip(widths[::-1], widths[-2::-1], strict=False)
              for layer in (nn.Linear(a, b), nn.ReLU())][:-1]  # a linear last layer
        return nn.Sequential(nn.Flatten(), *down, nn.Linear(widths[-1], self.params.latent),
                             nn.Linear(self.params.latent, widths[-1]), nn.ReLU(), *up,
                             nn.Unflatten(1, (channels, length)))

    def _conv(self, channels: int, length: int) -> Any:
        from torch import nn

        depth = len(self.params.hidden)
        if length % 2**depth:
            raise InputError(f"the conv autoencoder halves the window length {depth} times, so "
                             f"the length must divide by {2**depth}; the dataset's is {length}",
                             hint="change the window length or the number of 'hidden' layers")
        widths = [channels, *self.params.hidden]
        short = length // 2**depth
        down = [layer for a, b in zip(widths, widths[1:], strict=False)
                for layer in (nn.Conv1d(a, b, 5, stride=2, padding=2), nn.ReLU())]
        up = [layer for a, b in zip(widths[::-1], widths[-2::-1], strict=False)
              for layer in (nn.ConvTranspose1d(a, b, 4, stride=2, padding=1), nn.ReLU())][:-1]
        code = widths[-1] * short
        return nn.Sequential(*down, nn.Flatten(), nn.Linear(code, self.params.latent),
                             nn.Linear(self.params.latent, code), nn.ReLU(),
                             nn.Unflatten(1, (widths[-1], short)), *up)
