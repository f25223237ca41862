"""Checking and running the optimizer chain.

The chain is checked before anything runs: every step must accept the format the
previous one produces (converters from ``flow.conversions`` are inserted to bridge a
gap between frameworks), the runtime must run the final format and every component's
extra must be installed. Steps are cached: a step whose output sidecar records the
same input hash and parameters is not run again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from heiti import registry
from heiti.core.artifact import Artifact, sidecar_path
from heiti.core.steps import Optimizer, StepContext
from heiti.errors import InputError, MissingExtraError, component_failures
from heiti.flow import conversions
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
    components = [scenario.dataset, scenario.model, *scenario.optimizers, scenario.runtime,
                  scenario.target]
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
    """Run the steps in order; return the model artifact followed by each step's output."""
    artifacts = [model]
    for step in steps:
        current = artifacts[-1]
        cached = None if force else _cached(step, current)
        if cached is not None:
            ctx.log(f"{step.label} {step.optimizer.name}: up to date ({step.output.name})")
            artifacts.append(cached)
            continue
        step.output.parent.mkdir(parents=True, exist_ok=True)
        # the sidecar is written last and marks the output complete: remove a stale one first
        sidecar_path(step.output).unlink(missing_ok=True)
        ctx.log(f"{step.label} {step.optimizer.name}: {step.input_format} -> {step.output_format}"
                + (f" (converter inserted for {step.inserted_for})" if step.inserted_for else ""))
        started = time.perf_counter()
        with component_failures(f"{step.label} '{step.optimizer.name}'"):
            result = step.optimizer.optimize(current, step.output, ctx)
        result.format = step.output_format
        result.provenance.parameters = step.optimizer.params.model_dump(mode="json")
        result.provenance.input_sha256 = current.sha256
        if result.provenance.duration_s is None:
            result.provenance.duration_s = time.perf_counter() - started
        artifacts.append(result.save())
    return artifacts


def _cached(step: ChainStep, current: Artifact) -> Artifact | None:
    if not Artifact.sidecar_exists(step.output):
        return None
    try:
        existing = Artifact.load(step.output)
    except InputError:
        return None
    same = (existing.provenance.producer == f"optimizer:{step.optimizer.name}"
            and existing.provenance.input_sha256 == current.sha256
            and existing.provenance.parameters == step.optimizer.params.model_dump(mode="json"))
    return existing if same and existing.is_current() else None
