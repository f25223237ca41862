"""Magnitude spectra of each window: the preprocessing of a windows dataset with 'spectrum'."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import Field

from heiti.core.component import Component
from heiti.errors import InputError
from heiti.flows.stage import DatasetAware, Item, Transform
from heiti.signal.spectrum import SpectrumParams, spectrum


class SpectrumTransformParams(SpectrumParams):
    input: str = Field("audio", description="the window tensor of the item: (1, samples) or "
                       "(1, channels, samples)")
    output: str = Field("input", description="name of the spectrum tensor (the model's input)")


class Spectrum(DatasetAware, Transform):
    """Each channel's magnitude spectrum, float32 (1, channels, bins), computed as the
    sensor-windows and csv-windows datasets do with their 'spectrum' parameter. With a
    scenario's model, parameters left out come from its dataset's 'spectrum'."""

    name = "spectrum"
    Params = SpectrumTransformParams

    def dataset_settings(self, dataset: Component) -> dict[str, Any]:
        settings = getattr(dataset.params, "spectrum", None)
        return settings.model_dump() if isinstance(settings, SpectrumParams) else {}

    def process(self, item: Item) -> Iterator[Item]:
        if self.params.input not in item.tensors:
            raise InputError(f"{self.name}: the item has no tensor '{self.params.input}' "
                             f"(it has {', '.join(item.tensors)})", hint="set the 'input' parameter")
        window = item.tensors.pop(self.params.input)
        if window.ndim == 2:  # one channel: (1, samples) -> (1, 1, samples)
            window = window[:, None, :]
        try:
            item.tensors[self.params.output] = spectrum(window, self.params)
        except ValueError as exc:
            raise InputError(f"{self.name}: {exc}", hint="make the source's windows longer") from None
        yield item
