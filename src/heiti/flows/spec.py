"""Flow files: schema, validation (errors with their path in the file) and building the stages.

    name: kws-live
    source: {type: wav-stream, parameters: {path: recordings/, window_s: 1.0, hop_s: 0.25}}
    preprocess: [{type: mfcc}]
    model: {scenario: kws-int8.yml}          # or {artifact: model.onnx, runtime: {...}, target: {...}}
    postprocess: [{type: keyword-spotter, parameters: {threshold: 0.8}}]
    sinks: [{type: mqtt, parameters: {url: mqtt://localhost:1883/heiti/kws}}, {type: console}]

Relative paths resolve against the flow file's folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from heiti.core.artifact import Artifact
from heiti.core.dataset import Dataset
from heiti.core.files import require_file, write_json
from heiti.errors import InputError
from heiti.flows.engine import FlowRunner
from heiti.flows.model import ModelStage
from heiti.flows.stage import DatasetAware
from heiti.scenario import (
    ComponentSpec,
    TargetSpec,
    _Strict,
    instantiate,
    load_scenario,
    read_scenario_file,
    validate,
)

WHAT = "flow file"


class ModelSection(_Strict):
    scenario: Path | None = Field(None, description="a scenario: its final artifact (optimized first "
                                  "when needed) on its runtime and target")
    artifact: Path | None = Field(None, description="a model file with its sidecar")
    runtime: ComponentSpec | None = Field(None, description="default: the scenario's")
    target: TargetSpec | None = Field(None, description="default: the scenario's, else local")

    @model_validator(mode="after")
    def _one_model(self) -> ModelSection:
        if (self.scenario is None) == (self.artifact is None):
            raise ValueError("give either 'scenario' or 'artifact'")
        if self.artifact is not None and self.runtime is None:
            raise ValueError("an 'artifact' needs a 'runtime'")
        return self


class FlowSpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    source: ComponentSpec
    preprocess: list[ComponentSpec] = []
    model: ModelSection | None = None
    postprocess: list[ComponentSpec] = []
    sinks: list[ComponentSpec] = Field(min_length=1)
    queue_size: int = Field(8, ge=1, le=100_000, description="items waiting between two stages at most")
    statistics: Path | None = Field(None, description="write the per-stage statistics (JSON) here")


def load_flow(path: str | Path) -> tuple[FlowSpec, FlowRunner]:
    source = Path(path)
    return build_flow(read_scenario_file(source, what=WHAT), source.resolve().parent)


def build_flow(data: dict[str, Any], base: Path) -> tuple[FlowSpec, FlowRunner]:
    spec: FlowSpec = validate(FlowSpec, data, prefix="", what=WHAT)
    make = lambda kind, s, where: instantiate(kind, s, where, base, what=WHAT)  # noqa: E731
    transforms = [(f"preprocess[{i}] {s.type}", make("transform", s, f"preprocess[{i}]"))
                  for i, s in enumerate(spec.preprocess)]
    dataset = None
    if spec.model is not None:
        stage, dataset = _model_stage(spec.model, base)
        transforms.append(("model", stage))
    transforms += [(f"postprocess[{i}] {s.type}", make("transform", s, f"postprocess[{i}]"))
                   for i, s in enumerate(spec.postprocess)]
    sinks = [(f"sinks[{i}] {s.type}", make("sink", s, f"sinks[{i}]")) for i, s in enumerate(spec.sinks)]
    source = make("source", spec.source, "source")
    for component in [source, *(stage for _, stage in transforms + sinks)]:
        component.check_available()
    if dataset is not None:  # feed the model what it learned from
        for where, stage in [("source", source), *((w.split()[0], t) for w, t in transforms)]:
            if isinstance(stage, DatasetAware):
                stage.match_dataset(dataset, where)
    if spec.statistics is not None:
        spec.statistics = (base / spec.statistics).resolve()
    return spec, FlowRunner(spec.name, source, transforms, sinks, spec.queue_size)


def _model_stage(section: ModelSection, base: Path) -> tuple[ModelStage, Dataset | None]:
    """The model stage, and the dataset of its scenario (None for a bare artifact)."""
    dataset = None
    if section.scenario is not None:
        from heiti.pipeline import run as flow

        scenario = load_scenario(base / section.scenario)
        flow.log(f"flow: checking the model of scenario '{scenario.name}' (its dataset is loaded "
                 "to key the cached steps; steps that are current are reused)")
        artifact = flow.optimize(scenario)[-1]
        runtime, target, dataset = scenario.runtime, scenario.target, scenario.dataset
    else:
        path = require_file(base / section.artifact, section.artifact, what="model.artifact")
        artifact = Artifact.load(path)
        runtime = target = None
    if section.runtime is not None:
        runtime = instantiate("runtime", section.runtime, "model.runtime", base, what=WHAT)
    if section.target is not None or target is None:
        spec = section.target or TargetSpec()
        target = instantiate("target", ComponentSpec(type=spec.kind, parameters=spec.model_dump(
            exclude={"kind"})), "model.target", base, what=WHAT)
    if artifact.format not in runtime.formats:
        raise InputError(f"model: runtime '{runtime.name}' runs {', '.join(runtime.formats)}, the "
                         f"artifact '{artifact.path.name}' is '{artifact.format}'")
    if target.runs_runtime_here:
        runtime.check_available()
    return ModelStage(artifact, runtime, target), dataset


def run_flow(path: str | Path) -> dict[str, Any]:
    """Load and run a flow file; write its statistics when the file asks; return them."""
    spec, runner = load_flow(path)
    statistics = runner.run()
    if spec.statistics is not None:
        write_json(spec.statistics, statistics)
    return statistics
