"""Running a workflow: each step's key from its inputs' content, reuse what the store holds.

A step's key (``core.cache.StepKey``) holds its tool, parameters, the content hashes of
its inputs (outputs of earlier steps, files), the identity of data it reads from outside,
the seed and the tool versions. A step whose key is in the store is current and is not
run; one that runs stores its output under its key. Because inputs enter the key by
content, a changed step reruns the steps after it only if its output changed.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heiti.core.cache import ArtifactStore, StepKey, copy, tool_versions
from heiti.core.files import sha256_file, write_json
from heiti.errors import HeitiError, component_failures
from heiti.workflows.spec import Step, Workflow
from heiti.workflows.tool import ToolContext

OUTPUT = "output"
STATE_FILE = "workflow.json"


@dataclass
class StepOutcome:
    step: str
    action: str  # "current", "ran", "would run"
    reasons: list[str] = field(default_factory=list)
    duration_s: float | None = None
    output: str | None = None

    def line(self) -> str:
        why = f" ({'; '.join(self.reasons)})" if self.reasons else ""
        took = f" in {self.duration_s:.1f} s" if self.duration_s is not None else ""
        return f"{self.step}: {self.action}{took}{why}"


def run_workflow(workflow: Workflow, dry_run: bool = False, log: Any = print) -> list[StepOutcome]:
    store = ArtifactStore(workflow.store_dir)
    state_path = workflow.build_dir / STATE_FILE
    previous = _read_state(state_path)
    state: dict[str, Any] = {"workflow": workflow.spec.name, "steps": dict(previous)}
    built: dict[str, Path | None] = {}  # step -> its output in the store (None: not built yet)
    outcomes = []
    for step in workflow.steps:
        ctx = ToolContext(workflow.base_dir, workflow.spec.seed, step.name,
                          lambda message, name=step.name: log(f"  {name}: {message}"))
        pending = [f"input '{i}' is rebuilt by step '{s}'"
                   for i, s in step.inputs.items() if built[s] is None]
        key = None if pending else _key(step, built, ctx)
        entry = store.find(key, log=ctx.log) if key is not None else None
        if entry is not None:
            outcome = StepOutcome(step.name, "current")
        else:
            old = previous.get(step.name, {}).get("key")
            reasons = pending or key.changes(StepKey.model_validate(old) if old else None) or [
                "output missing from the store"]
            outcome = StepOutcome(step.name, "would run" if dry_run else "ran", reasons)
            if not dry_run:
                started = time.perf_counter()
                entry = _run(step, key, store, {i: built[s] for i, s in step.inputs.items()}, ctx)
                outcome.duration_s = time.perf_counter() - started
        built[step.name] = entry / OUTPUT if entry is not None else None
        log(outcome.line())
        outcomes.append(outcome)
        if entry is not None and not dry_run:
            outcome.output = str(entry / OUTPUT)
            state["steps"][step.name] = {"key": key.model_dump(mode="json"), "output": outcome.output}
            write_json(state_path, state)  # after every step: a failure later keeps what was done
            copy(entry / OUTPUT, workflow.step_dir(step.name))
    return outcomes


def _key(step: Step, built: dict[str, Path | None], ctx: ToolContext) -> StepKey:
    inputs = {name: sha256_file(built[source]) for name, source in step.inputs.items()}
    inputs |= {name: sha256_file(path) for name, path in step.files.items()}
    return StepKey(tool=f"workflow:{step.tool.name}", parameters=step.tool.params.model_dump(mode="json"),
                   inputs=inputs, dataset=step.tool.identity(ctx), seed=ctx.seed,
                   versions=tool_versions(step.tool.modules()))


def _run(step: Step, key: StepKey, store: ArtifactStore, inputs: dict[str, Path], ctx: ToolContext) -> Path:
    store.root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".run-{step.name}-", dir=store.root))
    try:
        output = scratch / OUTPUT
        output.mkdir()
        with component_failures(f"tool '{step.tool.name}'"):  # a framework's error: a message
            step.tool.run({**inputs, **step.files}, output, ctx)
        return store.put(key, {OUTPUT: output})
    except HeitiError as exc:
        exc.message = f"step '{step.name}' ({step.tool.name}): {exc.message}"
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _read_state(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("steps", {})
    except (OSError, ValueError, AttributeError):
        return {}
