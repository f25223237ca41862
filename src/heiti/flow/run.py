"""The steps of a scenario, callable one by one (``heiti train``/``optimize``/``test``)
or all together (``heiti run``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from heiti import postprocess
from heiti.core.artifact import Artifact
from heiti.core.cache import store_for
from heiti.core.files import write_atomic
from heiti.core.steps import StepContext
from heiti.errors import InputError, RunFailed, component_failures
from heiti.flow import measurements
from heiti.flow.binding import bind, check_inputs
from heiti.flow.chain import plan_chain, run_chain
from heiti.flow.environment import host_environment
from heiti.flow.inference import run_inference
from heiti.flow.measurements import DatasetSection, Measurements
from heiti.flow.resources import ResourceSampler
from heiti.scenario import LoadedScenario
from heiti.terminal import shown

MEASUREMENTS_FILE = "measurements.json"
PREDICTIONS_FILE = "predictions.csv"
EXAMPLES_FILE = "examples.png"
OUTPUTS_FILE = "outputs.npz"


def log(message: str) -> None:
    print(f"heiti: {shown(message)}", file=sys.stderr, flush=True)


def context(scenario: LoadedScenario) -> StepContext:
    return StepContext(dataset=scenario.dataset, build_dir=scenario.build_dir,
                       seed=scenario.spec.seed, log=log)


def train(scenario: LoadedScenario, force: bool = False) -> Artifact:
    plan_chain(scenario)  # a chain that cannot run is reported before hours of training
    scenario.build_dir.mkdir(parents=True, exist_ok=True)
    return _prepare_model(scenario, context(scenario), force)


def optimize(scenario: LoadedScenario, force: bool = False) -> list[Artifact]:
    steps = plan_chain(scenario)
    scenario.build_dir.mkdir(parents=True, exist_ok=True)
    ctx = context(scenario)
    return run_chain(steps, _prepare_model(scenario, ctx), ctx, force=force,
                     store=store_for(scenario.build_dir))


def _prepare_model(scenario: LoadedScenario, ctx: StepContext, force: bool = False) -> Artifact:
    with component_failures(f"model '{scenario.model.name}'"):
        return scenario.model.prepare(scenario.model_path, scenario.spec.model.train, ctx,
                                      force=force)


def test(scenario: LoadedScenario) -> tuple[Path, Measurements]:
    """Evaluate the final artifact on the target; write and return the measurements."""
    artifacts = optimize(scenario)
    final = artifacts[-1]
    settings = scenario.spec.test
    _check_batch(final, settings.batch_size)
    data = scenario.dataset.split(settings.split).head(settings.samples)
    info = scenario.dataset.info()
    check_inputs(data.input_specs(), final.io, hint=scenario.dataset.fit_hint(final.io))
    scenario.task.check_model(final.io, info)
    inputs = bind(data.inputs, final.io)
    # a quantized input travels as its raw integers, so a device computes no float
    quantized = {spec.name: spec.quantize(inputs[spec.name]) for spec in final.io.inputs}
    log(f"test: {len(data)} {settings.split} samples on target '{scenario.target.name}' with "
        f"runtime '{scenario.runtime.name}' ({final.path.name})")
    runs = f"runtime '{scenario.runtime.name}' on target '{scenario.target.name}'"
    with component_failures(runs):
        executor = scenario.target.open(scenario.runtime, final)
    try:
        with ResourceSampler(settings.resource_interval_s) as sampler, component_failures(runs):
            loop = run_inference(executor, quantized, settings.batch_size, settings.warmup,
                                 min_duration_s=settings.min_duration_s)
        runtime_versions = executor.versions()
    finally:
        executor.close()
    real = {spec.name: spec.dequantize(loop.outputs[spec.name]) for spec in final.io.outputs}
    outputs = postprocess.apply(final.io.postprocess, real, inputs)
    with component_failures(f"task '{scenario.task.name}'"):
        quality = scenario.task.evaluate(data, outputs, info)
    files = _write_extras(scenario, data, outputs, quality, info)
    if settings.save_outputs:
        files["outputs"] = _save_outputs(scenario.build_dir / OUTPUTS_FILE, loop.outputs)
    document = Measurements(
        name=scenario.name,
        scenario=scenario.resolved(),
        dataset=DatasetSection(**scenario.dataset.describe(), split=settings.split,
                               samples=len(data)),
        environment={"host": host_environment(), "target": scenario.target.environment()},
        runtime={**scenario.runtime.describe(), "versions": runtime_versions},
        model=measurements.model_section(artifacts),
        performance=measurements.performance_section(loop, settings.warmup),
        resources=_resources(sampler.summary(), executor),
        quality=quality,
        files=files,
    )
    path = document.write(scenario.build_dir / MEASUREMENTS_FILE)
    primary = quality.primary
    log(f"test: {quality.primary_metric} {'–' if primary is None else f'{primary:.4f}'}, "
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


def _write_extras(scenario: LoadedScenario, data: Any, outputs: dict[str, Any], quality: Any,
                  info: Any) -> dict[str, str]:
    """Per-sample predictions as CSV, and the task's example figure when it has one."""
    files = {}
    if quality.predictions:
        path = scenario.build_dir / PREDICTIONS_FILE
        write_predictions(path, data, quality.predictions)
        files["predictions"] = path.name
    figure = scenario.task.examples_figure(data, outputs, info)
    if figure is not None:
        path = scenario.build_dir / EXAMPLES_FILE
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
