"""MFCC or log-mel features of each audio window: the preprocessing a keyword model declares."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import Field

from heiti.audio.features import FeatureParams, extract
from heiti.core.component import Component
from heiti.errors import InputError
from heiti.flows.stage import DatasetAware, Item, Transform


class MfccParams(FeatureParams):
    input: str = Field("audio", description="the audio tensor of the item")
    output: str = Field("input", description="name of the feature tensor (the model's input)")


class Mfcc(DatasetAware, Transform):
    """Features of each window as the keyword datasets compute them: float32 (1, 1, frames,
    coefficients), or the int8-scaled values a device feeds heiti micro when int8_scale is
    set. With a scenario's model, parameters left out come from its dataset's 'features'."""

    name = "mfcc"
    Params = MfccParams
    requires = ("librosa",)
    extra = "audio"

    def dataset_settings(self, dataset: Component) -> dict[str, Any]:
        features = getattr(dataset.params, "features", None)
        return features.model_dump() if isinstance(features, FeatureParams) else {}

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
