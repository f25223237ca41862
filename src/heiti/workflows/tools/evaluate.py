"""Evaluate: the model of an earlier step on a runtime and target, as ``heiti test`` does."""

from __future__ import annotations

from pathlib import Path

from heiti.core.component import Params
from heiti.scenario import (
    ComponentSpec,
    LoadedScenario,
    ReportSettings,
    Scenario,
    TargetSpec,
    TestSettings,
    instantiate,
)
from heiti.workflows.stored import GivenModel, StoredDataset, artifact_in
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
        from heiti.flow import run as flow

        where, base = f"steps.{ctx.step}.with", ctx.base_dir
        model = GivenModel(artifact_in(inputs["model"], ctx.step))
        target = self.params.target
        spec = Scenario(name=ctx.step, seed=ctx.seed, dataset=ComponentSpec(type="ingested"),
                        model={"type": model.name}, runtime=self.params.runtime, target=target,
                        test=self.params.test, report=ReportSettings(enabled=self.params.report))
        scenario = LoadedScenario(
            spec, base / "<workflow>", output, StoredDataset(inputs["data"]), model, model.artifact.path,
            [], instantiate("runtime", self.params.runtime, f"{where}.runtime", base, what="workflow file"),
            instantiate("target", ComponentSpec(type=target.kind, parameters=target.model_dump(
                exclude={"kind"})), f"{where}.target", base, what="workflow file"))
        path, _ = flow.test(scenario)
        if self.params.report:
            from heiti.report import render_report

            render_report([path], output / "report", title=ctx.step)
