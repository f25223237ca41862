"""Train: a model from the zoo on ingested samples."""

from __future__ import annotations

from pathlib import Path

from heiti.core.component import Params
from heiti.core.steps import Model, StepContext
from heiti.scenario import ComponentSpec, TrainSettings, instantiate
from heiti.workflows.stored import StoredDataset
from heiti.workflows.tool import Tool, ToolContext, requirements


class TrainParams(Params):
    model: ComponentSpec
    train: TrainSettings = TrainSettings()


class Train(Tool):
    """Trains a model component on the "data" input (an ingest step); writes the model
    file with its sidecar."""

    name = "train"
    Params = TrainParams
    required_inputs = ("data",)

    def model(self, ctx: ToolContext) -> Model:
        return instantiate("model", self.params.model, f"steps.{ctx.step}.with.model", ctx.base_dir,
                           what="workflow file")

    def modules(self) -> tuple[str, ...]:
        return requirements("model", self.params.model)

    def run(self, inputs: dict[str, Path], output: Path, ctx: ToolContext) -> None:
        model = self.model(ctx)
        model.check_available()
        step = StepContext(dataset=StoredDataset(inputs["data"]), build_dir=output, seed=ctx.seed,
                           log=ctx.log)
        model.prepare(output / f"model{model.file_suffix}", self.params.train, step, force=True)
