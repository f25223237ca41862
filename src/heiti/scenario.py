"""Scenario files: schema, loading (YAML or JSON), validation and path resolution.

A scenario names a dataset, a model, an ordered chain of optimizers, a runtime and
a target. Every component's ``parameters`` are validated against that component's
own typed model; errors are reported with their path in the file
(``optimizers[1].parameters.mode: ...``). Relative paths resolve against the
folder of the scenario file, never against the working directory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from heiti import registry
from heiti.core.cache import store_for
from heiti.core.component import MAX_SEED, Component, Params
from heiti.core.dataset import Dataset
from heiti.core.files import refuse_inside, require_file
from heiti.core.path_variables import PathVariableError, expand_variables
from heiti.core.steps import Model, Optimizer, Runtime, Target
from heiti.core.task import Task
from heiti.errors import InputError
from heiti.migration import migration_hint
from heiti.pipeline import library_log


class _Strict(Params):
    """Scenario sections are checked like component parameters: no unknown keys, no inf or
    nan, no true/false for a number."""


class ComponentSpec(_Strict):
    type: str = Field(description="registered component name, see 'heiti list'")
    parameters: dict[str, Any] = {}


class TrainSettings(_Strict):
    epochs: int = Field(20, ge=1)
    lr: float = Field(3e-3, gt=0, description="learning rate (Adam)")
    batch_size: int = Field(64, ge=1)
    weight_decay: float = Field(0.0, ge=0)
    patience: int | None = Field(5, ge=1, description="early stopping: epochs without improvement")
    threads: int = Field(1, ge=0, description="CPU threads for training (0: PyTorch's default); "
                         "small edge models train fastest on one")


class ModelSpec(ComponentSpec):
    path: Path | None = Field(
        None,
        description="model file: loaded when it exists, written by training "
        "(default: BUILD_DIR/model.pt for trainable models)",
    )
    train: TrainSettings | None = None


class TargetSpec(BaseModel):
    model_config = ConfigDict(extra="allow")
    kind: str = "local"


class TestSettings(_Strict):
    warmup: int = Field(10, ge=0, le=100_000, description="untimed runs before measuring")
    samples: int | None = Field(None, ge=1, description="limit the number of test samples")
    batch_size: int = Field(1, ge=1)
    split: Literal["test", "val", "train", "all"] = Field(
        "test", description="samples to evaluate on; 'all' takes every sample of the dataset "
        "(for a model trained elsewhere)")
    min_duration_s: float = Field(
        0.0, ge=0, le=86_400, description="repeat timed passes over the samples until this much "
        "time has passed (quality still comes from the first pass)"
    )
    profile_runs: int = Field(0, ge=0, le=100_000, description="per-layer profile: after the timed "
                              "calls, time each layer over this many calls in a second session "
                              "(runtimes with a profiler, on this host); 0: off")
    save_outputs: bool = Field(False, description="write every raw model output (before "
                               "post-processing) to BUILD_DIR/outputs.npz")
    resource_interval_s: float = Field(0.05, ge=0.001, le=60, description="CPU/RAM sampling period")
    min_metric: dict[str, float] = Field(
        {}, description="quality gate: {METRIC: floor}; the run fails (exit 1) when a metric of "
        "the task is below its floor")
    max_metric: dict[str, float] = Field(
        {}, description="quality gate for metrics where lower is better: {METRIC: ceiling}")
    min_accuracy: float | None = Field(
        None, ge=0, le=1, description="alias of min_metric: {accuracy: value}")

    @model_validator(mode="after")
    def _accuracy_alias(self) -> TestSettings:
        if self.min_accuracy is not None:
            self.min_metric = {"accuracy": self.min_accuracy, **self.min_metric}
        return self


class ReportSettings(_Strict):
    enabled: bool = True
    directory: Path | None = Field(None, description="default: BUILD_DIR/report")
    title: str | None = None
    publish: str | None = Field(None, pattern=r"^mqtt://[^/]+/[^#+]+$",
                                description="mqtt://HOST[:PORT]/TOPIC: publish the measurements "
                                "summary there with QoS 1 (docs/flows.md)")


class Scenario(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    build_dir: Path | None = Field(None, description="default: build/NAME beside the scenario")
    seed: int = Field(0, ge=0, le=MAX_SEED, description="seed of training and of anything else "
                      "random")
    task: ComponentSpec | None = Field(None, description="the task and its parameters (default: "
                                       "the dataset's task with default parameters)")
    dataset: ComponentSpec
    model: ModelSpec
    optimizers: list[ComponentSpec] = []
    runtime: ComponentSpec
    target: TargetSpec = TargetSpec()
    test: TestSettings = TestSettings()
    report: ReportSettings = ReportSettings()
    search: dict[str, Any] | None = Field(None, description="the search space of 'heiti automl' "
                                          "(docs/automl.md); other commands run the scenario as it is")


@dataclass
class LoadedScenario:
    """A validated scenario with its components instantiated and its paths resolved."""

    spec: Scenario
    source: Path
    build_dir: Path
    dataset: Dataset
    model: Model
    model_path: Path
    optimizers: list[Optimizer]
    runtime: Runtime
    target: Target

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def task(self) -> Task:
        return self.dataset.task

    @property
    def report_dir(self) -> Path:
        return self.spec.report.directory or self.build_dir / "report"

    def refuse_outputs_in_data(self) -> None:
        """Refuse, before anything is written, a build or report folder (or a model to
        train) inside the dataset: heiti's files would overwrite or become samples."""
        data = self.dataset.path_parameters()
        refuse_inside(self.build_dir, data, "build_dir")
        if self.spec.report.enabled:
            refuse_inside(self.report_dir, data, "report.directory")
        if self.spec.model.train is not None:
            refuse_inside(self.model_path, data, "model.path")
        refuse_inside(store_for(self.build_dir).root, data, "artifact store ($HEITI_STORE)")

    def resolved(self) -> dict[str, Any]:
        """The scenario as run: defaults filled in, paths absolute."""
        data = self.spec.model_dump(mode="json")
        data["build_dir"] = str(self.build_dir)
        data["task"] = self.task.describe()
        data["dataset"] = self.dataset.describe()
        data["model"].update(self.model.describe(), path=str(self.model_path))
        data["optimizers"] = [o.describe() for o in self.optimizers]
        data["runtime"] = self.runtime.describe()
        data["target"] = {"kind": self.target.name, **self.target.params.model_dump(mode="json")}
        data["report"]["directory"] = str(self.report_dir)
        if data["report"]["publish"]:  # measurements files are shared: no broker password in them
            from heiti.publish.mqtt import redact

            data["report"]["publish"] = redact(data["report"]["publish"])
        return data


def read_scenario_file(path: Path, what: str = "scenario file") -> dict[str, Any]:
    require_file(path, given=path, what=what)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} '{path}' is not UTF-8 text: {exc}",
                         hint="save it as UTF-8") from None
    try:
        data = json.loads(text) if Path(path).suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise InputError(f"{what} '{path}' is not valid YAML/JSON: {exc}") from exc
    except RecursionError:
        raise InputError(f"{what} '{path}' is nested too deeply to read") from None
    if not isinstance(data, dict):
        raise InputError(f"{what} '{path}' must contain a mapping at the top level")
    return data


def load_scenario(path: str | Path) -> LoadedScenario:
    source = Path(path).resolve()
    return scenario_from_dict(read_scenario_file(Path(path)), source.parent, source)


def scenario_from_dict(data: dict[str, Any], base_dir: str | Path = ".",
                       source: Path | None = None) -> LoadedScenario:
    """Validate and load a scenario given as a mapping, exactly as a file would be;
    relative paths resolve against ``base_dir``."""
    base = Path(base_dir).resolve()
    source = source or base / "<in memory>"
    if not isinstance(data, dict):
        raise InputError(f"a scenario is a mapping of sections (name, dataset, model, ...), "
                         f"got {type(data).__name__} {data!r:.60}", hint="pass a dict, or the "
                         "path of a scenario file to heiti.api.load")
    spec = validate(Scenario, data, prefix="")
    spec.build_dir = _expanded(spec.build_dir, "build_dir")
    spec.model.path = _expanded(spec.model.path, "model.path")
    spec.report.directory = _expanded(spec.report.directory, "report.directory")
    build_dir = (base / spec.build_dir) if spec.build_dir else base / "build" / spec.name
    if spec.report.directory is not None:
        spec.report.directory = (base / spec.report.directory).resolve()

    dataset = instantiate("dataset", spec.dataset, "dataset", base)
    if spec.task is not None:
        dataset.task = instantiate("task", spec.task, "task", base)
    model = instantiate("model", spec.model, "model", base)
    optimizers = [
        instantiate("optimizer", o, f"optimizers[{i}]", base) for i, o in enumerate(spec.optimizers)
    ]
    runtime = instantiate("runtime", spec.runtime, "runtime", base)
    target_params = spec.target.model_dump(exclude={"kind"})
    target = instantiate("target", ComponentSpec(type=spec.target.kind, parameters=target_params),
                          "target", base)
    if spec.model.path is not None:
        model_path = (base / spec.model.path).resolve()
    else:
        model_path = (build_dir / f"model{model.file_suffix}").resolve()
    loaded = LoadedScenario(spec, source, build_dir.resolve(), dataset, model, model_path,
                            optimizers, runtime, target)
    loaded.refuse_outputs_in_data()
    library_log.log_to(loaded.build_dir)  # other libraries' log lines from here on (heiti CLI)
    return loaded


def _expanded(path: Path | None, where: str) -> Path | None:
    return None if path is None else expand_variables(path, where)


def instantiate(kind: str, spec: ComponentSpec, where: str, base: Path, what: str = "scenario") -> Any:
    try:
        cls = registry.get(kind, spec.type)
    except InputError as exc:
        raise InputError(f"{where}.type: {exc.message}", hint=exc.hint) from None
    params = validate(cls.Params, spec.parameters, prefix=f"{where}.parameters", what=what)
    try:
        component: Component = cls(params, base_dir=base)
    except PathVariableError as exc:
        raise InputError(f"{where}.{exc.message}", hint=exc.hint) from None
    return component


def validate(model: type[BaseModel], data: Any, prefix: str, what: str = "scenario") -> Any:
    """``model`` from ``data``; every error names its path in the file (``runtime.parameters.x``)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = [f"{_location(prefix, err['loc'])}: {err['msg']}" for err in exc.errors()]
        # a field removed or changed since an earlier heiti: say what to write instead
        hints = dict.fromkeys(h for h in map(migration_hint, exc.errors()) if h is not None)
        raise InputError(f"invalid {what}:\n  " + "\n  ".join(lines),
                         hint="\n      ".join(hints) or None) from None


def _location(prefix: str, loc: tuple) -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"
