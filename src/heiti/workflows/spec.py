"""Workflow files: named steps, each a tool with parameters and inputs from other steps.

    name: digits
    seed: 0
    steps:
      ingest:   {tool: ingest, with: {dataset: {type: digits}}}
      train:    {tool: train, inputs: {data: ingest}, with: {model: {type: tiny-cnn}}}
      export:   {tool: optimize, inputs: {model: train}, with: {optimizer: {type: onnx-export}}}
      evaluate: {tool: evaluate, inputs: {model: export, data: ingest},
                 with: {runtime: {type: onnxruntime}}}

Relative paths resolve against the workflow file's folder.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from heiti.core.cache import store_for
from heiti.core.files import refuse_inside
from heiti.errors import InputError
from heiti.scenario import ComponentSpec, _Strict, instantiate, read_scenario_file, validate
from heiti.workflows.tool import Tool, ToolContext

WHAT = "workflow file"
STEP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


class StepSpec(_Strict):
    tool: str = Field(description="a workflow tool, see 'heiti list --kind tool'")
    inputs: dict[str, str] = Field({}, description="input name -> the step that produces it")
    files: dict[str, Path] = Field({}, description="input name -> a file or folder (hashed)")
    with_: dict[str, Any] = Field({}, alias="with", description="the tool's parameters")


class WorkflowSpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    build_dir: Path | None = Field(None, description="default: build/NAME beside the workflow file")
    store: Path | None = Field(None, description="artifact store (default: $HEITI_STORE, else "
                               ".heiti-store beside the build folder, shared with scenarios)")
    seed: int = Field(0, ge=0)
    steps: dict[str, StepSpec] = Field(min_length=1)


@dataclass
class Step:
    name: str
    tool: Tool
    inputs: dict[str, str]  # input name -> step
    files: dict[str, Path]  # input name -> resolved path


@dataclass
class Workflow:
    spec: WorkflowSpec
    base_dir: Path
    build_dir: Path
    store_dir: Path
    steps: list[Step]  # in an order where every step comes after its inputs

    def step_dir(self, name: str) -> Path:
        """BUILD_DIR/steps/NAME: a copy of the step's stored output (a checked name, so
        always a folder inside the build folder)."""
        folder = self.build_dir / "steps"
        path = (folder / name).resolve()
        if path.parent != folder.resolve():
            raise InputError(f"step '{name}': its output folder '{path}' is not inside '{folder}'")
        return path


def load_workflow(path: str | Path) -> Workflow:
    source = Path(path)
    return workflow_from_dict(read_scenario_file(source, what=WHAT), source.resolve().parent)


def workflow_from_dict(data: dict[str, Any], base: Path) -> Workflow:
    spec: WorkflowSpec = validate(WorkflowSpec, data, prefix="", what=WHAT)
    steps = {}
    for name, step in spec.steps.items():
        if not STEP_NAME.fullmatch(name):
            raise InputError(f"steps: the step name {name!r} is not allowed",
                             hint="a step name is letters, digits, '_', '-' and '.', starting with a "
                                  "letter or digit (it names the step's folder in the build folder)")
        tool = instantiate("tool", ComponentSpec(type=step.tool, parameters=step.with_), f"steps.{name}",
                           base, what=WHAT)
        _check_inputs(name, step, tool, spec.steps)
        steps[name] = Step(name, tool, step.inputs, {k: (base / v).resolve() for k, v in step.files.items()})
    build_dir = ((base / spec.build_dir) if spec.build_dir else base / "build" / spec.name).resolve()
    store = (base / spec.store).resolve() if spec.store else store_for(build_dir).root
    _refuse_outputs_in_data(steps.values(), build_dir, store, base, spec.seed)
    return Workflow(spec, base, build_dir, store, _ordered(steps))


def _refuse_outputs_in_data(steps: Any, build_dir: Path, store: Path, base: Path, seed: int) -> None:
    """A build folder or store inside data a step reads would write among the samples."""
    for step in steps:
        data = step.tool.reads(ToolContext(base, seed, step.name, print))
        refuse_inside(build_dir, data, "build_dir")
        refuse_inside(store, data, "store")


def _check_inputs(name: str, step: StepSpec, tool: Tool, steps: dict[str, StepSpec]) -> None:
    given = {*step.inputs, *step.files}
    for source in step.inputs.values():
        if source not in steps:
            close = difflib.get_close_matches(source, list(steps), n=1)
            raise InputError(f"steps.{name}.inputs: no step named '{source}'",
                             hint=f"did you mean '{close[0]}'?" if close else None)
    if tool.any_inputs:
        return
    missing = [i for i in tool.required_inputs if i not in given]
    unknown = [i for i in given if i not in (*tool.required_inputs, *tool.optional_inputs)]
    if missing or unknown:
        takes = ", ".join([*tool.required_inputs, *(f"{i} (optional)" for i in tool.optional_inputs)])
        problem = f"lacks {', '.join(missing)}" if missing else f"has unknown {', '.join(unknown)}"
        raise InputError(f"steps.{name}.inputs {problem}: tool '{tool.name}' takes {takes or 'none'}")


def _ordered(steps: dict[str, Step]) -> list[Step]:
    order: list[Step] = []
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = path[path.index(name):] + [name]
            raise InputError(f"the workflow's steps form a cycle: {' -> '.join(cycle)}")
        state[name] = "visiting"
        for source in steps[name].inputs.values():
            visit(source, [*path, name])
        state[name] = "done"
        order.append(steps[name])

    for name in steps:
        visit(name, [])
    return order
