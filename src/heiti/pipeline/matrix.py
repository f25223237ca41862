"""The compatibility matrix: one model through every feasible chain on every runtime.

For each runtime whose extra is installed, ``plan_cells`` searches the installed
optimizers (default parameters plus their declared ``variants``) for the shortest
chain from the model's format to a format the runtime runs: one without
quantization (fp32) and one through an int8 format where a backend has a
quantizer. Each cell then runs as its own scenario (same dataset and trained
model, its own build directory, so steps are cached per cell) through the usual
optimize/test flow. A cell that fails records the reason; it never stops the matrix.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from heiti import registry
from heiti.core.cpu import int8_instructions
from heiti.core.files import write_json
from heiti.core.formats import Format
from heiti.core.steps import Optimizer
from heiti.errors import HeitiError, InputError
from heiti.pipeline.progress import eta
from heiti.scenario import ComponentSpec, LoadedScenario

if TYPE_CHECKING:
    from heiti.pipeline.measurements import Measurements

MAX_STEPS = 4
VARIANTS = ("fp32", "int8")


@dataclass
class Cell:
    runtime: str
    variant: str  # fp32, int8 or chainN for a chain requested with --chain
    optimizers: list[dict[str, Any]] | None  # None: no chain exists
    status: str = "pending"  # ok, failed, n/a
    reason: str = ""
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.runtime}-{self.variant}"

    @property
    def chain(self) -> str:
        steps = [o["type"] + _settings(o["parameters"]) for o in self.optimizers or []]
        return " → ".join([*steps, self.runtime]) if self.optimizers is not None else "–"


def _settings(params: dict[str, Any]) -> str:
    shown = {k: v for k, v in params.items() if k != "batch"}
    return "(" + ", ".join(f"{k}={v}" for k, v in shown.items()) + ")" if shown else ""


def parse_chain(text: str) -> tuple[list[str], str]:
    """``OPT,OPT:RUNTIME`` (or ``:RUNTIME``) to optimizer names and a runtime name."""
    head, colon, runtime = text.rpartition(":")
    if not colon or not runtime.strip():
        raise InputError(f"--chain '{text}': expected OPTIMIZER[,OPTIMIZER...]:RUNTIME, "
                         "e.g. 'ort-quantize:litert'")
    names = [n.strip() for n in head.split(",") if n.strip()]
    for name in names:
        registry.get("optimizer", name)
    registry.get("runtime", runtime.strip())
    return names, runtime.strip()


def plan_cells(scenario: LoadedScenario, runtimes: list[str] | None = None,
               optimizers: list[str] | None = None, chains: list[str] | None = None,
               variants: tuple[str, ...] = VARIANTS) -> list[Cell]:
    """The cells to run: fp32 and int8 per runtime, then the explicitly requested chains."""
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise InputError(f"unknown variant '{unknown[0]}' (known: {', '.join(VARIANTS)})")
    table = registry.components()
    for kind, names in (("runtime", runtimes), ("optimizer", optimizers)):
        for name in names or []:
            registry.get(kind, name)  # an unknown name is bad input, with suggestions
    overrides = {o.name: o.params.model_dump(mode="json", exclude_defaults=True)
                 for o in scenario.optimizers}
    allowed = [cls for name, cls in sorted(table["optimizer"].items())
               if optimizers is None or name in optimizers or getattr(cls, "converts", False)]
    pool = [cls for cls in allowed if not cls.missing_modules()]
    batch = scenario.spec.test.batch_size
    cells: list[Cell] = []
    for name in runtimes or sorted(table["runtime"]):
        cls = table["runtime"][name]
        if cls.missing_modules():
            if runtimes:  # asked for by name: say why it cannot run
                cells.append(Cell(name, variants[0] if variants else "fp32", None, "failed",
                                  f'runtime not installed: pip install "heiti[{cls.extra}]"'))
            continue
        found = shortest_chains(scenario.model.output_format, cls.formats, pool, overrides, batch)
        for variant in variants:
            chain = found.get(variant)
            if chain is not None:
                cells.append(Cell(name, variant, chain))
                continue
            # n/a: the runtime is reachable, only not this way (an int8-only runtime has no fp32
            # cell), or no chain can exist for the model's format; failed: one would exist
            # with the optimizers whose extras are missing here
            missing = not found and variant == variants[0] and variant in shortest_chains(
                scenario.model.output_format, cls.formats, allowed, overrides, batch)
            cells.append(Cell(name, variant, None, "failed" if missing else "n/a",
                              f"no chain of {'installed ' if missing else ''}optimizers from "
                              f"'{scenario.model.output_format}' to "
                              f"{' or '.join(repr(f) for f in cls.formats)}"
                              + {"int8": " through an int8 format", "fp32": " without int8"}[variant]
                              + (" (install the missing extras: 'heiti list')" if missing else "")))
    for k, text in enumerate(chains or [], start=1):
        names, runtime = parse_chain(text)
        steps = [{"type": n, "parameters": _with_batch(table["optimizer"][n], overrides.get(n, {}), batch)}
                 for n in names]
        cells.append(Cell(runtime, f"chain{k}", steps))
    return cells


def shortest_chains(source: str, targets: tuple[str, ...], pool: list[type[Optimizer]],
                    overrides: dict[str, dict[str, Any]], batch: int) -> dict[str, list[dict[str, Any]]]:
    """Breadth-first over (format, quantized): the shortest fp32 and int8 chains to ``targets``."""
    found: dict[str, list[dict[str, Any]]] = {}
    queue: deque[tuple[str, bool, list[dict[str, Any]]]] = deque([(source, False, [])])
    seen = {(source, False)}
    while queue:
        fmt, quantized, chain = queue.popleft()
        variant = "int8" if quantized else "fp32"
        if fmt in targets and variant not in found:
            found[variant] = chain
        if len(chain) >= MAX_STEPS or len(found) == len(VARIANTS):
            continue
        used = {step["type"] for step in chain}
        for cls in pool:
            if cls.name in used or fmt not in cls.input_formats:
                continue
            for params, _ in cls.outputs_for(fmt):
                merged = _with_batch(cls, {**overrides.get(cls.name, {}), **params}, batch)
                try:
                    out = cls(merged).output_format_for(fmt)
                except ValidationError:  # the scenario's parameters do not fit this variant
                    continue
                state = (out, quantized or Format.parse(out).quantized)
                if out != fmt and state not in seen:
                    seen.add(state)
                    queue.append((*state, [*chain, {"type": cls.name, "parameters": merged}]))
    return found


def _with_batch(cls: type[Optimizer], params: dict[str, Any], batch: int) -> dict[str, Any]:
    """Compilers with a static batch (a ``batch`` parameter) get the scenario's test batch size."""
    if "batch" in cls.Params.model_fields and "batch" not in params:
        return {**params, "batch": batch}
    return params


def run_cells(scenario: LoadedScenario, cells: list[Cell], out_dir: Path, samples: int | None = None,
              ray: bool = False, address: str | None = None, workers: int | None = None) -> list[Cell]:
    """Run the pending cells, one after another here or several at once on Ray."""
    from heiti.pipeline import distributed
    from heiti.pipeline import run as flow
    from heiti.report import export

    runtime_params = {scenario.runtime.name: scenario.runtime.params.model_dump(mode="json")}
    if any(c.status == "pending" for c in cells):  # trained once, before cells run side by side
        scenario.build_dir.mkdir(parents=True, exist_ok=True)
        flow.prepare_model(scenario, flow.context(scenario))
    queue = [i for i, c in enumerate(cells) if c.status == "pending"]
    total, started = len(queue), time.monotonic()
    pool = distributed.pool(ray, address, workers)
    try:
        while queue or pool.pending():
            while queue and pool.pending() < pool.workers:
                index = queue.pop(0)
                cell = cells[index]
                flow.log(f"matrix: {cell.name}: {cell.chain}")
                pool.submit(index, run_cell, scenario, cell, out_dir / "cells" / cell.name,
                            runtime_params.get(cell.runtime, {}), samples)
            index, outcome = pool.next_done()
            cell = cells[index]
            if isinstance(outcome, BaseException):
                outcome = ("failed", f"the worker failed: {type(outcome).__name__}: {outcome}", {})
            cell.status, cell.reason, cell.result = outcome
            if cell.status == "failed":
                flow.log(f"matrix: {cell.name} failed: {cell.reason.splitlines()[0][:200]}")
            done = total - len(queue) - pool.pending()
            left = eta(time.monotonic() - started, done, total)
            flow.log(f"matrix: {done} of {total} cells done{f', {left}' if left else ''}; "
                     f"best so far: {best_so_far(cells)}")
    finally:
        pool.close()
    _add_agreement(cells)
    write_json(out_dir / "matrix.json", {"scenario": scenario.name, "int8_instructions": int8_instructions(),
                                         "cells": [dataclasses.asdict(c) for c in cells]})
    export.write_rows(out_dir / "matrix.csv", [cell_row(c) for c in cells], with_json=False)
    return cells


def cell_row(cell: Cell) -> dict[str, Any]:
    """A cell as one flat row of matrix.csv (the per-sample predictions stay in matrix.json)."""
    result = {k: v for k, v in cell.result.items() if k not in ("predictions", "chain")}
    return {"cell": cell.name, "runtime": cell.runtime, "variant": cell.variant, "status": cell.status,
            "chain": cell.chain, **result, "reason": cell.reason}


def best_so_far(cells: list[Cell]) -> str:
    """The finished cell with the best primary metric (ties: the lower median latency)."""
    done = [c for c in cells if c.status == "ok" and c.result.get("metric") is not None]
    if not done:
        return "none yet"
    sign = 1 if registry.get("task", done[0].result["task"]).higher_is_better else -1
    top = min(done, key=lambda c: (-sign * c.result["metric"], c.result["p50_ms"]))
    return (f"{top.result['metric_name']} {top.result['metric']:.4f} at {top.result['p50_ms']:.3g} ms "
            f"({top.name})")


def run_cell(scenario: LoadedScenario, cell: Cell, build_dir: Path, runtime_params: dict[str, Any],
             samples: int | None) -> tuple[str, str, dict[str, Any]]:
    """One cell through the usual optimize/test flow: (status, reason, result)."""
    from heiti.pipeline import run as flow

    try:
        path, document = flow.test(cell_scenario(scenario, cell, build_dir, runtime_params, samples))
    except HeitiError as exc:
        return "failed", exc.message + (f" (hint: {exc.hint})" if exc.hint else ""), {}
    except Exception as exc:  # a backend's own error: the cell fails, the matrix goes on
        return "failed", f"{type(exc).__name__}: {exc}", {}
    return "ok", "", summarize(document, path)


def cell_scenario(scenario: LoadedScenario, cell: Cell, build_dir: Path,
                  runtime_params: dict[str, Any], samples: int | None) -> LoadedScenario:
    """The scenario with the cell's chain and runtime, building in its own folder."""
    from heiti.scenario import instantiate

    base = scenario.source.parent
    steps = [ComponentSpec(type=o["type"], parameters=o["parameters"]) for o in cell.optimizers or []]
    runtime = ComponentSpec(type=cell.runtime, parameters=runtime_params)
    test = scenario.spec.test.model_copy(update={"samples": samples or scenario.spec.test.samples})
    spec = scenario.spec.model_copy(update={"name": f"{scenario.name}-{cell.name}", "optimizers": steps,
                                            "runtime": runtime, "test": test})
    optimizers = [instantiate("optimizer", s, f"optimizers[{i}]", base) for i, s in enumerate(steps)]
    return dataclasses.replace(scenario, spec=spec, build_dir=build_dir.resolve(), optimizers=optimizers,
                               runtime=instantiate("runtime", runtime, "runtime", base))


def summarize(document: Measurements, path: Path) -> dict[str, Any]:
    chain = document.model.chain
    latency = document.performance.latency_ms
    return {
        "measurements": str(path),
        "chain": [step.producer.split(":", 1)[1] for step in chain],
        "format": document.model.format,
        "metric_name": document.quality.primary_metric,
        "metric": document.quality.primary,
        "p50_ms": latency.p50, "p99_ms": latency.p99,
        "size_bytes": document.model.size_bytes,
        "compile_s": sum(step.duration_s or 0.0 for step in chain[1:]),
        "task": document.quality.task,
        "predictions": document.quality.predictions,
    }


def _add_agreement(cells: list[Cell]) -> None:
    """Agreement of each cell's predictions with the reference: a cell without optimizers
    (the model's own framework), else the first fp32 cell that ran."""
    done = [c for c in cells if c.status == "ok" and c.result.get("predictions") is not None]
    reference = next((c for c in done if not c.optimizers), None) or next(
        (c for c in done if c.variant == "fp32"), None)
    if reference is None:
        return
    task = registry.get("task", reference.result["task"])()
    for cell in done:
        cell.result["reference"] = reference.name
        if task:
            ours, theirs = cell.result["predictions"], reference.result["predictions"]
            same = sum(task.same_prediction(a, b) for a, b in zip(ours, theirs, strict=False))
            cell.result["agreement"] = same / len(theirs) if len(ours) == len(theirs) and theirs else None
