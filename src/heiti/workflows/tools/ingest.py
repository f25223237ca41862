"""Ingest: read a dataset once and store its splits for the steps after it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from heiti.core.component import Params
from heiti.core.dataset import Dataset
from heiti.scenario import ComponentSpec, instantiate
from heiti.workflows.stored import write_samples
from heiti.workflows.tool import Tool, ToolContext


class IngestParams(Params):
    dataset: ComponentSpec
    task: ComponentSpec | None = None


class Ingest(Tool):
    """Reads a dataset (any dataset component) and stores its train/val/test/calibration
    splits; its key holds the dataset's identity, so edited data files are read again."""

    name = "ingest"
    Params = IngestParams

    def dataset(self, ctx: ToolContext) -> Dataset:
        where = f"steps.{ctx.step}.with"
        dataset = instantiate("dataset", self.params.dataset, f"{where}.dataset", ctx.base_dir,
                              what="workflow file")
        if self.params.task is not None:
            dataset.task = instantiate("task", self.params.task, f"{where}.task", ctx.base_dir,
                                       what="workflow file")
        return dataset

    def reads(self, ctx: ToolContext) -> list[Path]:
        return self.dataset(ctx).path_parameters()

    def identity(self, ctx: ToolContext) -> dict[str, Any] | None:
        return self.dataset(ctx).fingerprint()

    def run(self, inputs: dict[str, Path], output: Path, ctx: ToolContext) -> None:
        dataset = self.dataset(ctx)
        dataset.check_available()
        write_samples(dataset, dataset.fingerprint(), output)
