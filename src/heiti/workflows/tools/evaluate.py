"""Evaluate: the model of an earlier step on a runtime and target, as ``heiti test`` does."""

from __future__ import annotations

from pathlib import Path

from heiti.core.component import Params
from heiti.scenario import ComponentSpec, TargetSpec, TestSettings, instantiate
from heiti.workflows.stored import StoredDataset, artifact_in
from heiti.workflows.tool import Tool, ToolContext, requirements


class EvaluateParams(Params):
    runtime: ComponentSpec
    target: TargetSpec = TargetSpec()
    test: TestSettings = TestSettings()
    report: bool = True


class Evaluate(Tool):
    """Tests the "model" input on the "data" input's test split; writes
    measurements.json (and the report) like a scenario run."""

    name = "evaluate"
    Params = EvaluateParams
    required_inputs = ("model", "data")

    def modules(self) -> tuple[str, ...]:
        return requirements("runtime", self.params.runtime)

    def run(self, inputs: dict[str, Path], output: Path, ctx: ToolContext) -> None:
        from heiti.pipeline.run import evaluate, write_measurements

        where, base, target = f"steps.{ctx.step}.with", ctx.base_dir, self.params.target
        model = artifact_in(inputs["model"], ctx.step)
        dataset = StoredDataset(inputs["data"])
        runtime = instantiate("runtime", self.params.runtime, f"{where}.runtime", base, what="workflow file")
        target_component = instantiate("target", ComponentSpec(type=target.kind, parameters=target.model_dump(
            exclude={"kind"})), f"{where}.target", base, what="workflow file")
        evaluation = evaluate(model, dataset, runtime, target_component, dataset.task, self.params.test)
        step = {"name": ctx.step, "seed": ctx.seed, "dataset": dataset.describe(),
                "task": dataset.task.describe(), "model": {"type": "artifact", "path": str(model.path)},
                "runtime": runtime.describe(), "target": target.model_dump(),
                "test": self.params.test.model_dump(mode="json")}
        path, _ = write_measurements(evaluation, ctx.step, step, [model], output)
        if self.params.report:
            from heiti.report import render_report

            render_report([path], output / "report", title=ctx.step)
