"""Tasks: what a model is for, as a contract the whole flow relies on.

A task owns the type of its ground truth, how a dataset is split, the training loss
of trainable models, its metrics with one primary metric and its direction, and the
report section that shows them. The flow passes ``(inputs, outputs, truth)`` along
and asks the task; it never names a metric itself. Adding a task is one file in
``heiti/tasks/`` (or a ``heiti.components`` entry point)::

    class Counting(Task):
        '''Count objects: the truth is a count per sample.'''
        name = "counting"
        primary_metric = "mae"
        higher_is_better = False

        def evaluate(self, data, outputs, info):
            predicted = outputs[self.output_name(outputs)].reshape(len(data)).round()
            error = np.abs(predicted - data.truth)
            return self.quality(data, {"mae": float(error.mean())},
                                predictions=predicted.tolist())
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import BaseModel, Field

from heiti.core.component import Component
from heiti.errors import InputError

if TYPE_CHECKING:
    from heiti.core.dataset import Samples
    from heiti.core.iospec import IOSpec


@dataclass(frozen=True)
class DatasetInfo:
    """What a task may know about the dataset besides the samples."""

    name: str
    class_names: list[str] = field(default_factory=list)
    root: Path | None = None  # folder datasets: sample ids are paths relative to it


class Quality(BaseModel):
    """A task's verdict on one run: scalar metrics, the primary one named, and details."""

    task: str
    samples: int
    primary_metric: str
    higher_is_better: bool = True
    metrics: dict[str, float | None] = Field(description="scalar metrics by name")
    details: dict[str, Any] = Field(default={}, description="per-class tables, curves, matrices")
    predictions: list[Any] = Field(default=[], description="one prediction per sample, in order")

    @property
    def primary(self) -> float | None:
        return self.metrics.get(self.primary_metric)

    def better(self, a: float, b: float) -> bool:
        """True when ``a`` is strictly better than ``b`` under this task's direction."""
        return a > b if self.higher_is_better else a < b


class Task(Component):
    """Base class of tasks; subclasses set ``name``, ``primary_metric`` and implement
    ``evaluate`` (and ``loss`` for trainable models, ``split`` for a non-random split)."""

    kind = "task"
    primary_metric: ClassVar[str] = ""
    higher_is_better: ClassVar[bool] = True

    # --- ground truth and splits ---------------------------------------------------

    @staticmethod
    def select(truth: Any, index: np.ndarray) -> Any:
        """The truth of the samples at ``index`` (arrays are indexed, ragged lists picked)."""
        if isinstance(truth, np.ndarray):
            return truth[index]
        return [truth[i] for i in index]

    def split(self, truth: Any, fractions: dict[str, float], rng: np.random.Generator
              ) -> dict[str, np.ndarray]:
        """Sample indices of ``train``, ``val`` and ``test`` (``fractions`` has val and
        test; train takes the rest). Default: a random split."""
        count = len(truth)
        order = rng.permutation(count)
        n_test = max(1, round(count * fractions["test"])) if fractions["test"] > 0 else 0
        n_val = max(1, round(count * fractions["val"])) if fractions["val"] > 0 else 0
        if count - n_test - n_val < 1 and fractions["test"] < 1:
            raise InputError(f"{count} samples are too few to split into train, validation and test")
        return {"test": order[:n_test], "val": order[n_test : n_test + n_val],
                "train": order[n_test + n_val :]}

    # --- training (trainable PyTorch models) ----------------------------------------

    def loss(self, inputs: dict[str, Any], outputs: dict[str, Any], truth: Any) -> Any:
        """A scalar torch tensor to minimise; ``truth`` is ``select``-ed for the batch."""
        raise InputError(f"task '{self.name}' does not define a training loss",
                         hint="train the model elsewhere and load it as a file")

    def training_score(self, inputs: dict[str, Any], outputs: dict[str, Any], truth: Any
                       ) -> float | None:
        """A cheap validation score, higher is better, to pick the best epoch (None: the
        validation loss decides)."""
        return None

    # --- evaluation ----------------------------------------------------------------

    def check_model(self, io: IOSpec, info: DatasetInfo) -> None:
        """Refuse, before inference, a model whose outputs cannot serve this task on this
        dataset (e.g. fewer class scores than classes); raise InputError naming both sides."""

    def evaluate(self, data: Samples, outputs: dict[str, np.ndarray], info: DatasetInfo) -> Quality:
        """Metrics from the model's (post-processed) outputs on ``data``."""
        raise NotImplementedError

    def quality(self, data: Samples, metrics: dict[str, float | None], **extra: Any) -> Quality:
        return Quality(task=self.name, samples=len(data), primary_metric=self.primary_metric,
                       higher_is_better=self.higher_is_better, metrics=metrics, **extra)

    @staticmethod
    def output_name(outputs: Mapping[str, Any], wanted: str | None = None) -> str:
        """The output a single-output task reads: ``wanted`` when given, else the only one."""
        if wanted is not None:
            if wanted not in outputs:
                raise InputError(f"the model has no output named '{wanted}' "
                                 f"(outputs: {', '.join(outputs)})")
            return wanted
        if len(outputs) != 1:
            raise InputError(f"the model has {len(outputs)} outputs ({', '.join(outputs)}); "
                             "the task needs to know which one to read",
                             hint="set the task's 'output' parameter")
        return next(iter(outputs))

    # --- report --------------------------------------------------------------------

    def report_sections(self, quality: Quality, prefix: str) -> list[Any]:
        """Sections (``heiti.report.content.Section``) showing ``quality``."""
        return []

    def examples_figure(self, data: Samples, outputs: dict[str, np.ndarray], info: DatasetInfo
                        ) -> bytes | None:
        """A PNG of a few samples with predictions drawn (e.g. boxes on images), written
        beside the measurements at test time; None when the task has none."""
        return None

    def same_prediction(self, a: Any, b: Any) -> bool:
        """Whether two runs predicted alike for one sample (``heiti matrix`` agreement);
        tasks whose predictions hold real values compare their decision only."""
        return a == b

    def comparison_columns(self) -> list[str]:
        """Scalar metrics shown per run in comparison reports (primary first)."""
        return [self.primary_metric]
