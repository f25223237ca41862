"""The stages of a flow and the items that travel between them.

Sources, transforms and sinks are components (kinds ``source``, ``transform``, ``sink``;
one file each in ``heiti/flows/sources``, ``transforms``, ``sinks``, or a
``heiti.components`` entry point), so their parameters are typed and ``heiti info``
describes them. Every item carries one sample (batch dimension 1) as named tensors,
where it came from, and once postprocessing ran, the results that sinks publish.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from heiti.core.component import Component
from heiti.errors import InputError


@dataclass
class Item:
    seq: int  # position in the source's order
    source: str  # file name, peer address, ...
    offset_s: float | None = None  # start time within the source (audio windows)
    tensors: dict[str, np.ndarray] = field(default_factory=dict)
    class_names: list[str] | None = None  # set by the model stage when the model has them
    results: list[dict[str, Any]] | None = None  # None: nothing decided yet; []: nothing to report

    def describe(self) -> dict[str, Any]:
        """Where a result came from, as sinks publish it."""
        where: dict[str, Any] = {"seq": self.seq, "source": self.source}
        if self.offset_s is not None:
            where["offset_s"] = round(self.offset_s, 6)
        return where


class DatasetAware:
    """A stage that prepares data as a dataset does (image size, audio features) takes the
    settings of the dataset the model was trained on, so a flow feeds the model what it
    learned from: a setting the flow file leaves out is copied, one it gives must agree."""

    def match_dataset(self, dataset: Component, where: str) -> None:
        given = self.params.model_fields_set
        for name, theirs in self.dataset_settings(dataset).items():
            ours = getattr(self.params, name)
            if name not in given:
                setattr(self.params, name, theirs)
            elif _comparable(ours) != _comparable(theirs):
                raise InputError(f"{where}.parameters.{name} is {ours!r}, but the model was trained on "
                                 f"dataset '{dataset.name}' with {theirs!r}",
                                 hint=f"leave '{name}' out to take the dataset's value")

    def dataset_settings(self, dataset: Component) -> dict[str, Any]:
        """This stage's parameters as the dataset sets them (empty: nothing to match)."""
        return {}


def _comparable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


class Source(Component):
    """Produces items; a generator, so that items are made only as fast as they are taken."""

    kind = "source"
    # seconds of media per item (audio windows advance by a hop), for the real-time factor
    media_seconds_per_item: float | None = None

    def open(self) -> None:
        """Acquire what clients need before the flow starts (a listening socket)."""

    def items(self) -> Iterator[Item]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class Transform(Component):
    """Turns one item into zero or more items (preprocessing, postprocessing)."""

    kind = "transform"

    def open(self) -> None:
        """Load what the stage needs (a model) before the first item arrives."""

    def process(self, item: Item) -> Iterable[Item]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class Sink(Component):
    """Receives every item that has results; ``open`` may fail early (an unreachable broker)."""

    kind = "sink"

    def open(self, flow_name: str) -> None:
        pass

    def write(self, item: Item) -> None:
        raise NotImplementedError

    def close(self, statistics: dict[str, Any]) -> None:
        pass
