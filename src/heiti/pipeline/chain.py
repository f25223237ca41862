"""Checking and running the optimizer chain.

The chain is checked before anything runs: every step must accept the format the
previous one produces (converters from ``pipeline.conversions`` are inserted to bridge a
gap between frameworks), the runtime must run the final format and every component's
extra must be installed. Each step runs through the step engine (``core.build``), keyed by
its input's hash, parameters, the dataset's fingerprint, the calibration samples, the seed
and the tool versions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from heiti import registry
from heiti.core.artifact import Artifact, sidecar_path
from heiti.core.build import build_step
from heiti.core.cache import StepKey, samples_digest, tool_versions
from heiti.core.steps import Optimizer, StepContext
from heiti.errors import InputError, MissingExtraError, component_failures
from heiti.pipeline import conversions
from heiti.scenario import LoadedScenario


@dataclass
class ChainStep:
    index: int | None  # position in the scenario's optimizers; None: inserted by the chain check
    optimizer: Optimizer
    input_format: str
    output_format: str
    output: Path
    inserted_for: str = ""  # what an inserted converter feeds, for the log

    @property
    def label(self) -> str:
        return f"optimizers[{self.index}]" if self.index is not None else "inserted"


def plan_chain(scenario: LoadedScenario) -> list[ChainStep]:
    """Check formats and extras of the whole scenario; return the steps to run, with the
    converters inserted where a step or the runtime needs another format."""
    _check_extras(scenario)
    problems: list[str] = []
    planned: list[tuple[int | None, Optimizer, str, str, str]] = []
    current, source = scenario.model.output_format, f"model '{scenario.model.name}'"

    def bridge(formats: tuple[str, ...], consumer: str) -> bool:
        nonlocal current, source
        path = conversions.find_path(current, formats)
        if path is None:
            return False
        for converter in path:
            output = converter.output_format_for(current)
            planned.append((None, converter, current, output, consumer))
            current, source = output, f"inserted '{converter.name}'"
        return True

    for i, optimizer in enumerate(scenario.optimizers):
        if not bridge(optimizer.input_formats, f"optimizers[{i}] '{optimizer.name}'"):
            fits = _optimizers_taking(current)
            problems.append(
                f"optimizers[{i}] '{optimizer.name}' takes {_formats(optimizer.input_formats)}, "
                f"but {source} produces '{current}'; {conversions.gap(current, optimizer.input_formats)}"
                + (f"; optimizers that take '{current}': {', '.join(fits)}" if fits else "")
            )
            break
        output_format = optimizer.output_format_for(current)
        planned.append((i, optimizer, current, output_format, ""))
        current, source = output_format, f"optimizers[{i}] '{optimizer.name}'"
    runtime = scenario.runtime
    if not problems and not bridge(runtime.formats, f"runtime '{runtime.name}'"):
        fits = [n for n, cls in registry.components()["runtime"].items() if current in cls.formats]
        problems.append(
            f"runtime '{runtime.name}' runs {_formats(runtime.formats)}, but {source} produces "
            f"'{current}'" + (f"; runtimes that run '{current}': {', '.join(fits)}" if fits else "")
            + f"; {conversions.gap(current, runtime.formats)}"
        )
    if problems:
        raise InputError("the optimizer chain does not fit together:\n  " + "\n  ".join(problems))
    for index, optimizer, _, _, _ in planned:
        if index is None:
            optimizer.check_available()
    return [ChainStep(index, optimizer, fmt_in, fmt_out,
                      scenario.build_dir / f"{pos + 1:02d}-{optimizer.name}{optimizer.file_suffix}", feeds)
            for pos, (index, optimizer, fmt_in, fmt_out, feeds) in enumerate(planned)]


def _check_extras(scenario: LoadedScenario) -> None:
    components = [scenario.task, scenario.dataset, scenario.model, *scenario.optimizers,
                  scenario.runtime, scenario.target]
    if not scenario.target.runs_runtime_here:
        components.remove(scenario.runtime)
    for component in components:
        missing = component.missing_modules()
        if missing:
            raise MissingExtraError(component.name, component.extra or component.name, missing[0])


def _optimizers_taking(fmt: str) -> list[str]:
    return sorted(n for n, cls in registry.components()["optimizer"].items() if fmt in cls.input_formats)


def _formats(formats: tuple[str, ...]) -> str:
    return " or ".join(f"'{f}'" for f in formats)


def run_chain(steps: list[ChainStep], model: Artifact, ctx: StepContext,
              force: bool = False) -> list[Artifact]:
    """Run the steps in order (``core.build``); return the model artifact followed by each
    step's output."""
    artifacts = [model]
    data = data_key(ctx)
    for step in steps:
        current = artifacts[-1]
        key = step_key(step.optimizer, current, ctx.seed, data)
        note = f" (converter inserted for {step.inserted_for})" if step.inserted_for else ""
        label = f"{step.label} {step.optimizer.name}"
        make = partial(execute, step.optimizer, current, step.output, step.output_format, ctx, key, label)
        artifacts.append(build_step(key, step.output, make, ctx, label=label, force=force,
                                    action=f"{current.format} -> {step.output_format}{note}"))
    return artifacts


def data_key(ctx: StepContext) -> dict[str, Any]:
    """The dataset's part of a step key: its identity and the calibration samples."""
    if ctx.dataset is None:
        return {}
    try:
        calibration = samples_digest(ctx.dataset.split("calibration"))
    except InputError:  # too few samples to split ('test: {split: all}'): no step calibrates
        calibration = None
    return {"dataset": ctx.dataset.fingerprint(), "calibration": calibration}


def step_key(optimizer: Optimizer, current: Artifact, seed: int, data: dict[str, Any]) -> StepKey:
    return StepKey(tool=f"optimizer:{optimizer.name}", parameters=optimizer.params.model_dump(mode="json"),
                   inputs={"model": current.sha256}, seed=seed, versions=tool_versions(optimizer.requires),
                   **data)


def execute(optimizer: Optimizer, current: Artifact, output: Path, output_format: str, ctx: StepContext,
            key: StepKey, label: str) -> Artifact:
    """Run the optimizer and write the output's sidecar with its provenance and key."""
    output.parent.mkdir(parents=True, exist_ok=True)
    # the sidecar is written last and marks the output complete: remove a stale one first
    sidecar_path(output).unlink(missing_ok=True)
    started = time.perf_counter()
    with component_failures(label):  # a framework's own error becomes a message with a hint
        result = optimizer.optimize(current, output, ctx)
    result.format = output_format
    result.provenance.parameters = optimizer.params.model_dump(mode="json")
    result.provenance.input_sha256 = current.sha256
    result.provenance.key = key
    if result.provenance.duration_s is None:
        result.provenance.duration_s = time.perf_counter() - started
    return result.save()
