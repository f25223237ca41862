"""MFCC or log-mel features of each audio window: the preprocessing a keyword model declares."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import Field

from heiti.audio.features import FeatureParams, extract
from heiti.errors import InputError
from heiti.flows.stage import Item, Transform


class MfccParams(FeatureParams):
    input: str = Field("audio", description="the audio tensor of the item")
    output: str = Field("input", description="name of the feature tensor (the model's input)")


class Mfcc(Transform):
    """Features of each window as the keyword datasets compute them (same parameters as their
    'features' section): float32 (1, 1, frames, coefficients), or the int8-scaled values a
    device feeds heiti micro when int8_scale is set."""

    name = "mfcc"
    Params = MfccParams
    requires = ("librosa",)
    extra = "audio"

    def process(self, item: Item) -> Iterator[Item]:
        if self.params.input not in item.tensors:
            raise InputError(f"{self.name}: the item has no tensor '{self.params.input}' "
                             f"(it has {', '.join(item.tensors)})", hint="set the 'input' parameter")
        audio = item.tensors.pop(self.params.input)
        try:
            item.tensors[self.params.output] = extract(audio, self.params)
        except ValueError as exc:
            raise InputError(f"{self.name}: {exc}", hint="make the source's window_s at least one "
                             "feature window long") from None
        yield item
