"""The steps of a scenario, callable one by one (``heiti train``/``optimize``/``test``)
or all together (``heiti run``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from heiti import postprocess
from heiti.core.artifact import Artifact
from heiti.core.cache import store_for
from heiti.core.dataset import Dataset, Samples
from heiti.core.files import write_atomic
from heiti.core.steps import Runtime, StepContext, Target
from heiti.core.task import Quality, Task
from heiti.errors import InputError, RunFailed, component_failures
from heiti.pipeline import measurements
from heiti.pipeline.benchmark import check_profiler, profile_layers
from heiti.pipeline.binding import bind, check_inputs
from heiti.pipeline.chain import plan_chain, run_chain
from heiti.pipeline.environment import host_environment
from heiti.pipeline.inference import LoopResult, run_inference
from heiti.pipeline.measurements import DatasetSection, LayerProfile, Measurements
from heiti.pipeline.progress import status
from heiti.pipeline.resources import ResourceSampler
from heiti.scenario import LoadedScenario, TestSettings
from heiti.terminal import shown

MEASUREMENTS_FILE = "measurements.json"
PREDICTIONS_FILE = "predictions.csv"
EXAMPLES_FILE = "examples.png"
OUTPUTS_FILE = "outputs.npz"


def log(message: str) -> None:
    status(f"heiti: {shown(message)}")


def context(scenario: LoadedScenario) -> StepContext:
    return StepContext(dataset=scenario.dataset, build_dir=scenario.build_dir, seed=scenario.spec.seed,
                       log=log, store=store_for(scenario.build_dir), scenario=scenario.name)


def train(scenario: LoadedScenario, force: bool = False) -> Artifact:
    plan_chain(scenario)  # a chain that cannot run is reported before hours of training
    scenario.build_dir.mkdir(parents=True, exist_ok=True)
    return prepare_model(scenario, context(scenario), force)


def optimize(scenario: LoadedScenario, force: bool = False) -> list[Artifact]:
    steps = plan_chain(scenario)
    scenario.build_dir.mkdir(parents=True, exist_ok=True)
    ctx = context(scenario)
    return run_chain(steps, prepare_model(scenario, ctx), ctx, force=force)


def prepare_model(scenario: LoadedScenario, ctx: StepContext, force: bool = False) -> Artifact:
    """The scenario's model, trained when its training key is not current (core.build)."""
    with component_failures(f"model '{scenario.model.name}'"):
        return scenario.model.prepare(scenario.model_path, scenario.spec.model.train, ctx,
                                      force=force)


def test(scenario: LoadedScenario) -> tuple[Path, Measurements]:
    """Evaluate the final artifact on the target; write and return the measurements."""
    artifacts = optimize(scenario)
    evaluation = evaluate(artifacts[-1], scenario.dataset, scenario.runtime, scenario.target,
                          scenario.task, scenario.spec.test)
    return write_measurements(evaluation, scenario.name, scenario.resolved(), artifacts,
                              scenario.build_dir)


@dataclass
class Evaluation:
    """One artifact run on a target over a dataset split: what the measurements are made of."""

    dataset: Dataset
    runtime: Runtime
    target: Target
    task: Task
    settings: TestSettings
    data: Samples
    outputs: dict[str, Any]  # de-quantized and post-processed, as the task scores them
    raw_outputs: dict[str, Any]  # as the runtime returned them
    quality: Quality
    loop: LoopResult
    runtime_versions: dict[str, str]
    resources: dict[str, Any]
    profile: LayerProfile | None = None


def evaluate(artifact: Artifact, dataset: Dataset, runtime: Runtime, target: Target, task: Task,
             settings: TestSettings) -> Evaluation:
    """Run ``artifact`` with ``runtime`` on ``target`` over ``settings.split`` of ``dataset``
    and score the outputs with ``task``: the one evaluation of scenarios, matrix cells,
    AutoML trials and workflow steps."""
    _check_batch(artifact, settings.batch_size)
    data = dataset.split(settings.split).head(settings.samples)
    info = dataset.info()
    check_inputs(data.input_specs(), artifact.io, hint=dataset.fit_hint(artifact.io))
    task.check_model(artifact.io, info)
    inputs = bind(data.inputs, artifact.io)
    # a quantized input travels as its raw integers, so a device computes no float
    quantized = {spec.name: spec.quantize(inputs[spec.name]) for spec in artifact.io.inputs}
    if settings.profile_runs:
        check_profiler(runtime, target, "test.profile_runs")
    log(f"test: {len(data)} {settings.split} samples on target '{target.name}' with "
        f"runtime '{runtime.name}' ({artifact.path.name})")
    runs = f"runtime '{runtime.name}' on target '{target.name}'"
    with component_failures(runs):
        executor = target.open(runtime, artifact)
    log(f"test: target '{target.name}' ready; inference starts")
    try:
        with ResourceSampler(settings.resource_interval_s) as sampler, component_failures(runs):
            loop = run_inference(executor, quantized, settings.batch_size, settings.warmup,
                                 min_duration_s=settings.min_duration_s)
        runtime_versions = executor.versions()
    finally:
        executor.close()
    profile = None
    if settings.profile_runs:
        first = {name: a[:settings.batch_size] for name, a in quantized.items()}
        layers = profile_layers(runtime, artifact, first, settings.profile_runs)
        profile = LayerProfile(runtime=runtime.name, runs=settings.profile_runs,
                               layers=[vars(layer) for layer in layers])
    real = {spec.name: spec.dequantize(loop.outputs[spec.name]) for spec in artifact.io.outputs}
    outputs = postprocess.apply(artifact.io.postprocess, real, inputs)
    with component_failures(f"task '{task.name}'"):
        quality = task.evaluate(data, outputs, info)
    return Evaluation(dataset, runtime, target, task, settings, data, outputs, loop.outputs, quality,
                      loop, runtime_versions, _resources(sampler.summary(), executor), profile)


def write_measurements(evaluation: Evaluation, name: str, scenario: dict[str, Any],
                       artifacts: list[Artifact], build_dir: Path) -> tuple[Path, Measurements]:
    """The measurements file (and predictions, example figure, outputs) in ``build_dir``;
    ``scenario`` is what was run, as a scenario mapping (``target.kind`` at least)."""
    e, settings = evaluation, evaluation.settings
    files = _write_extras(e, build_dir)
    if settings.save_outputs:
        files["outputs"] = _save_outputs(build_dir / OUTPUTS_FILE, e.raw_outputs)
    document = Measurements(
        name=name,
        scenario=scenario,
        dataset=DatasetSection(**e.dataset.describe(), split=settings.split, samples=len(e.data)),
        environment={"host": host_environment(), "target": e.target.environment()},
        runtime={**e.runtime.describe(), "versions": e.runtime_versions},
        model=measurements.model_section(artifacts),
        performance=measurements.performance_section(e.loop, settings.warmup),
        resources=e.resources,
        quality=e.quality,
        files=files,
        profile=e.profile,
    )
    path = document.write(build_dir / MEASUREMENTS_FILE)
    primary = e.quality.primary
    log(f"test: {e.quality.primary_metric} {'–' if primary is None else f'{primary:.4f}'}, "
        f"{_median_latency(document)} -> {path}")
    return path, document


def _median_latency(document: Measurements) -> str:
    """The target's own latency when it measured one (a remote target), else the host's."""
    perf = document.performance
    if perf.target_latency_ms is None:
        return f"median latency {perf.latency_ms.p50:.4f} ms"
    return (f"median latency on the target {perf.target_latency_ms.p50:.4f} ms (host round trip "
            f"{perf.latency_ms.p50:.4f} ms)")


def check_quality_gate(scenario: LoadedScenario, document: Measurements) -> None:
    """``test.min_metric`` floors and ``test.max_metric`` ceilings on the task's metrics."""
    quality, settings = document.quality, scenario.spec.test
    bounds = [(name, floor, "below", "min_metric") for name, floor in settings.min_metric.items()]
    bounds += [(name, ceiling, "above", "max_metric") for name, ceiling in settings.max_metric.items()]
    for name, bound, relation, field in bounds:
        if name not in quality.metrics:
            raise InputError(f"test.{field} names '{name}', which task '{quality.task}' does not "
                             f"measure (it measures {', '.join(quality.metrics)})")
        value = quality.metrics[name]
        if value is None or (value < bound if relation == "below" else value > bound):
            shown = "none" if value is None else f"{value:.4f}"
            raise RunFailed(f"quality gate failed: {name} {shown} is {relation} test.{field} {bound}")


def _write_extras(e: Evaluation, build_dir: Path) -> dict[str, str]:
    """Per-sample predictions as CSV, and the task's example figure when it has one."""
    files = {}
    if e.quality.predictions:
        path = build_dir / PREDICTIONS_FILE
        write_predictions(path, e.data, e.quality.predictions)
        files["predictions"] = path.name
    figure = e.task.examples_figure(e.data, e.outputs, e.dataset.info())
    if figure is not None:
        path = build_dir / EXAMPLES_FILE
        write_atomic(path, figure)
        files["examples"] = path.name
    return files


def _save_outputs(path: Path, outputs: dict[str, Any]) -> str:
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.savez(buffer, **outputs)
    write_atomic(path, buffer.getvalue())
    return path.name


def write_predictions(path: Path, data: Any, predictions: list[Any]) -> None:
    """One row per sample: its id (file path relative to the dataset root, or its index),
    the truth and the prediction (JSON when not a plain value)."""
    import csv
    import io
    import json

    def cell(value: Any) -> Any:
        if hasattr(value, "tolist"):
            value = value.tolist()
        if isinstance(value, str | int | float):
            return value
        return json.dumps(value, default=lambda v: v.tolist())  # numpy arrays inside, e.g. boxes

    ids = data.ids or [str(i) for i in range(len(data))]
    truth = data.truth.tolist() if hasattr(data.truth, "tolist") else list(data.truth)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["sample", "truth", "prediction"])
    for row in zip(ids, truth, predictions, strict=True):
        writer.writerow([cell(v) for v in row])
    write_atomic(path, buffer.getvalue())


def _resources(host: dict[str, Any], executor: Any) -> dict[str, Any]:
    """Host-side samples, plus what a remote target reported about itself."""
    target = getattr(executor, "target_statistics", None)
    return {**host, "target": target} if target else host


def _check_batch(model: Artifact, batch_size: int) -> None:
    first = model.io.inputs[0]
    if first.shape and first.shape[0] > 0 and first.shape[0] != batch_size:
        raise InputError(f"the model's input '{first.name}' has a fixed batch of {first.shape[0]}, "
                         f"but test.batch_size is {batch_size}")
