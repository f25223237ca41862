"""Optimize: one optimizer (export, quantize, compile) on the model of an earlier step."""

from __future__ import annotations

from pathlib import Path

from heiti.core.component import Params
from heiti.core.steps import Optimizer, StepContext
from heiti.errors import InputError
from heiti.pipeline.chain import data_key, execute, step_key
from heiti.scenario import ComponentSpec, instantiate
from heiti.workflows.stored import StoredDataset, artifact_in
from heiti.workflows.tool import Tool, ToolContext, requirements


class OptimizeParams(Params):
    optimizer: ComponentSpec


class Optimize(Tool):
    """Runs an optimizer component on the "model" input with the "data" input's samples (an
    ingest step: an export checks its output on them, a quantizer calibrates)."""

    name = "optimize"
    Params = OptimizeParams
    required_inputs = ("model", "data")  # optimizers read samples: export checks, quantizers calibrate

    def modules(self) -> tuple[str, ...]:
        return requirements("optimizer", self.params.optimizer)

    def run(self, inputs: dict[str, Path], output: Path, ctx: ToolContext) -> None:
        optimizer: Optimizer = instantiate("optimizer", self.params.optimizer,
                                           f"steps.{ctx.step}.with.optimizer", ctx.base_dir,
                                           what="workflow file")
        optimizer.check_available()
        model = artifact_in(inputs["model"], ctx.step)
        if model.format not in optimizer.input_formats:
            raise InputError(f"optimizer '{optimizer.name}' takes "
                             f"{', '.join(optimizer.input_formats)}, its model input is '{model.format}'")
        step = StepContext(dataset=StoredDataset(inputs["data"]), build_dir=output, seed=ctx.seed,
                           log=ctx.log)
        key = step_key(optimizer, model, ctx.seed, data_key(step))  # as a scenario's chain keys it
        execute(optimizer, model, output / f"model{optimizer.file_suffix}",
                optimizer.output_format_for(model.format), step, key, f"optimizer '{optimizer.name}'")
