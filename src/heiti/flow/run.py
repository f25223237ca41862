"""The steps of a scenario, callable one by one (``heiti train``/``optimize``/``test``)
or all together (``heiti run``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from heiti.core.artifact import Artifact
from heiti.core.steps import StepContext
from heiti.errors import InputError, RunFailed
from heiti.flow import measurements
from heiti.flow.chain import plan_chain, run_chain
from heiti.flow.environment import host_environment
from heiti.flow.inference import run_inference
from heiti.flow.resources import ResourceSampler
from heiti.scenario import LoadedScenario

MEASUREMENTS_FILE = "measurements.json"


def log(message: str) -> None:
    print(f"heiti: {message}", file=sys.stderr, flush=True)


def context(scenario: LoadedScenario) -> StepContext:
    return StepContext(dataset=scenario.dataset, build_dir=scenario.build_dir,
                       seed=scenario.spec.seed, log=log)


def train(scenario: LoadedScenario, force: bool = False) -> Artifact:
    plan_chain(scenario)  # a chain that cannot run is reported before hours of training
    scenario.build_dir.mkdir(parents=True, exist_ok=True)
    return scenario.model.prepare(scenario.model_path, scenario.spec.model.train,
                                  context(scenario), force=force)


def optimize(scenario: LoadedScenario, force: bool = False) -> list[Artifact]:
    steps = plan_chain(scenario)
    scenario.build_dir.mkdir(parents=True, exist_ok=True)
    ctx = context(scenario)
    model = scenario.model.prepare(scenario.model_path, scenario.spec.model.train, ctx)
    return run_chain(steps, model, ctx, force=force)


def test(scenario: LoadedScenario) -> tuple[Path, dict[str, Any]]:
    """Evaluate the final artifact on the target; write and return the measurements."""
    artifacts = optimize(scenario)
    final = artifacts[-1]
    settings = scenario.spec.test
    _check_batch(final, settings.batch_size)
    data = scenario.dataset.split(settings.split).head(settings.samples)
    log(f"test: {len(data)} samples on target '{scenario.target.name}' with runtime "
        f"'{scenario.runtime.name}' ({final.path.name})")
    executor = scenario.target.open(scenario.runtime, final)
    try:
        with ResourceSampler(settings.resource_interval_s) as sampler:
            # a quantized input travels as raw integers, so the device computes no float
            loop = run_inference(executor, final.io.inputs[0].quantize(data.x), settings.batch_size,
                                 settings.warmup, min_duration_s=settings.min_duration_s)
        runtime_versions = executor.versions()
    finally:
        executor.close()
    quality = scenario.dataset.evaluate(final.io.outputs[0].dequantize(loop.outputs), data.y)
    document = {
        **measurements.header(scenario.name),
        "scenario": scenario.resolved(),
        "environment": {"host": host_environment(), "target": scenario.target.environment()},
        "runtime": {**scenario.runtime.describe(), "versions": runtime_versions},
        "model": measurements.model_section(artifacts),
        "performance": measurements.performance_section(loop, settings.warmup),
        "resources": _resources(sampler.summary(), executor),
        "quality": quality,
    }
    path = measurements.write_measurements(scenario.build_dir / MEASUREMENTS_FILE, document)
    log(f"test: accuracy {quality['accuracy']:.4f}, median latency "
        f"{document['performance']['latency_ms']['p50']:.4f} ms -> {path}")
    return path, document


def check_quality_gate(scenario: LoadedScenario, document: dict[str, Any]) -> None:
    floor = scenario.spec.test.min_accuracy
    accuracy = document["quality"].get("accuracy")
    if floor is not None and accuracy is not None and accuracy < floor:
        raise RunFailed(f"quality gate failed: accuracy {accuracy:.4f} is below "
                        f"test.min_accuracy {floor}")


def _resources(host: dict[str, Any], executor: Any) -> dict[str, Any]:
    """Host-side samples, plus what a remote target reported about itself."""
    target = getattr(executor, "target_statistics", None)
    return {**host, "target": target} if target else host


def _check_batch(model: Artifact, batch_size: int) -> None:
    first = model.io.inputs[0]
    if first.shape and first.shape[0] > 0 and first.shape[0] != batch_size:
        raise InputError(f"the model's input '{first.name}' has a fixed batch of {first.shape[0]}, "
                         f"but test.batch_size is {batch_size}")
