"""The ``search:`` section of a scenario: what varies, what is optimized, the budget.

Each varied parameter is named by its path in the scenario
(``model.parameters.hidden``, ``optimizers[0].parameters.scheme``, ``model.train.lr``)
and checked against the parameter model of the component it belongs to: an unknown
name, an empty range or a bound the component refuses is an input error with its path
in the file, before anything runs.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    model_validator,
)

from heiti import registry
from heiti.errors import InputError
from heiti.scenario import LoadedScenario, TrainSettings

OBJECTIVES = ("metric", "flash", "ram", "instructions", "latency", "size")
BOARD_OBJECTIVES = ("flash", "ram", "instructions")
PATH = re.compile(r"^(model|runtime|dataset|task|optimizers\[(\d+)\])\.parameters\.(\w+)$"
                  r"|^model\.train\.(\w+)$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# what a search may ask of Optuna: bounds it samples exactly (floats hold integers up to
# 2^53), at most a billion steps in a range, lists of at most a thousand items (every
# length is checked against the component before anything runs), a seed NumPy accepts
EXACT = 2**53
MAX_STEPS = 10**9
MAX_LENGTH = 1000
MAX_SEED = 2**32 - 1


def _exact(value: int | float) -> int | float:
    if not -EXACT <= value <= EXACT:  # (false for nan too)
        shown = str(value) if len(str(value)) <= 24 else f"a number of {len(str(value))} digits"
        raise ValueError(f"{shown} is not a finite number within ±2^53")
    return value


Number = Annotated[int | float, AfterValidator(_exact)]


class Range(_Strict):
    """Numbers from ``low`` to ``high``: integers when both bounds are integers."""

    low: Number
    high: Number
    step: Number | None = Field(None, gt=0)
    log: bool = Field(False, description="sample on a log scale")

    @property
    def integer(self) -> bool:
        return isinstance(self.low, int) and isinstance(self.high, int)

    @model_validator(mode="after")
    def _samplable(self) -> Range:
        if self.step is None:
            return self
        if self.log:
            raise ValueError("a log range takes no step")
        if self.integer and not float(self.step).is_integer():
            raise ValueError(f"an integer range needs an integer step, not {self.step}")
        if self.high - self.low > MAX_STEPS * self.step:
            raise ValueError(f"step {self.step} divides [{self.low}, {self.high}] into more than "
                             f"{MAX_STEPS:,} values")
        return self

    def bounds(self) -> list[Any]:
        return [self.low, self.high]


class Choices(_Strict):
    choices: list[Any] = Field(min_length=1)

    @model_validator(mode="after")
    def _json(self) -> Choices:
        for i, choice in enumerate(self.choices):  # Optuna stores them as JSON text
            try:
                json.dumps(choice, allow_nan=False)
            except (TypeError, ValueError):
                raise ValueError(f"choice {i} ({choice!r}) is not a JSON value: use numbers, "
                                 "strings, booleans, null, lists and mappings (quote a date)") from None
        return self

    def bounds(self) -> list[Any]:
        return list(self.choices)


def _kind(value: Any) -> str | None:
    """Which space a mapping describes, by its keys, so that a mistake is reported against
    that space only (not against every member of the union)."""
    if isinstance(value, BaseModel):
        return {Range: "range", Choices: "choices", ListSpace: "list"}.get(type(value))
    if not isinstance(value, dict):
        return None
    return next((kind for keys, kind in ((("length",), "list"), (("choices",), "choices"),
                                         (("low", "high", "step", "log"), "range"))
                 if any(k in value for k in keys)), None)


_RANGE_OR_CHOICES = "expected {low, high[, step, log]} or {choices}"
ItemSpace = Annotated[Annotated[Range, Tag("range")] | Annotated[Choices, Tag("choices")],
                      Discriminator(_kind, custom_error_type="space",
                                    custom_error_message=_RANGE_OR_CHOICES)]


class ListSpace(_Strict):
    """A list whose length and items vary, e.g. the channels of each block (depth and widths)."""

    length: tuple[int, int] = Field(description=f"[shortest, longest], at most {MAX_LENGTH}")
    items: ItemSpace

    @model_validator(mode="after")
    def _lengths(self) -> ListSpace:
        if self.length[0] < 1 or self.length[0] > self.length[1]:
            raise ValueError(f"length {list(self.length)} is empty or below 1")
        if self.length[1] > MAX_LENGTH:
            raise ValueError(f"length {list(self.length)}: a list of more than {MAX_LENGTH} items")
        return self


class Budget(_Strict):
    trials: int = Field(20, ge=1, description="candidates to try (infeasible ones included)")
    wall_time_s: float | None = Field(None, gt=0, description="no new trial starts after this")
    epochs: int | None = Field(None, ge=1, description="training epochs per trial "
                               "(default: model.train.epochs)")
    trial_timeout_s: float | None = Field(None, gt=0, description="a trial training longer is "
                                          "stopped at its next epoch and counted as timed out")


class Pruning(_Strict):
    enabled: bool = True
    startup_trials: int = Field(3, ge=0, description="trials trained in full before any is pruned")
    warmup_epochs: int = Field(2, ge=0, description="epochs of a trial before it may be pruned")


Space = Annotated[Annotated[Range, Tag("range")] | Annotated[Choices, Tag("choices")]
                  | Annotated[ListSpace, Tag("list")],
                  Discriminator(_kind, custom_error_type="space",
                                custom_error_message=_RANGE_OR_CHOICES + ", or {length, items}")]


class Search(_Strict):
    parameters: dict[str, Space] = Field(min_length=1)
    objectives: list[Literal["metric", "flash", "ram", "instructions", "latency", "size"]] = Field(
        ["metric"], min_length=1, description="metric: the task's primary metric; flash, ram: of the "
        "linked firmware; instructions: per inference on the board; latency: median ms on the "
        "target; size: the final artifact's bytes")
    budget: Budget = Budget()
    pruning: Pruning = Pruning()
    platform: str | None = Field(None, description="accelerator rules: a built-in rule set "
                                 "(max78002) or a rules YAML file, relative to the scenario")
    best: int = Field(3, ge=1, description="best trials evaluated through the full flow")
    seed: int = Field(0, ge=0, le=MAX_SEED)
    split: Literal["val", "test"] = Field("val", description="split that scores each trial "
                                          "(the best are then evaluated on test.split)")

    @model_validator(mode="after")
    def _distinct(self) -> Search:
        if len(set(self.objectives)) != len(self.objectives):
            raise ValueError("objectives repeat a name")
        return self


def _field_model(path: str, scenario: LoadedScenario) -> tuple[type[BaseModel], dict[str, Any], str]:
    """The parameter model that ``path`` belongs to, the scenario's current values, the field."""
    match = PATH.match(path)
    if match is None:
        raise ValueError("expected COMPONENT.parameters.NAME (COMPONENT: model, optimizers[i], "
                         "runtime, dataset, task) or model.train.NAME")
    section, index, name, train_field = match.groups()
    spec = scenario.spec
    if train_field:
        if spec.model.train is None:
            raise ValueError("the scenario's model has no 'train' section")
        return TrainSettings, spec.model.train.model_dump(), train_field
    if index is not None:
        if int(index) >= len(spec.optimizers):
            raise ValueError(f"the scenario has {len(spec.optimizers)} optimizer(s)")
        component = spec.optimizers[int(index)]
    else:
        component = getattr(spec, section)
        if component is None:
            raise ValueError(f"the scenario has no '{section}' section")
    kind = "optimizer" if index is not None else section
    return registry.get(kind, component.type).Params, dict(component.parameters), name


def _samples(space: Range | Choices | ListSpace) -> list[Any]:
    """The values whose acceptance shows the whole space is within the component's bounds."""
    if isinstance(space, ListSpace):
        return [[item] * n for n in space.length for item in space.items.bounds()]
    return space.bounds()


def validate_search(data: Any, scenario: LoadedScenario) -> Search:
    """The search section, typed and checked against the scenario's components."""
    try:
        search = Search.model_validate(data)
    except ValidationError as exc:
        raise _invalid([(_loc(err["loc"]), err["msg"]) for err in exc.errors()]) from None
    problems: list[tuple[str, str]] = []
    for path, space in search.parameters.items():
        where = f"parameters[{path}]"
        try:
            model, current, name = _field_model(path, scenario)
        except (ValueError, InputError) as exc:
            problems.append((where, getattr(exc, "message", None) or str(exc)))
            continue
        if name not in model.model_fields:
            problems.append((where, f"unknown parameter '{name}' (known: {', '.join(model.model_fields)})"))
            continue
        ranges = [space] if isinstance(space, Range) else [space.items] if isinstance(
            space, ListSpace) and isinstance(space.items, Range) else []
        for r in ranges:
            suffix = ".items" if isinstance(space, ListSpace) else ""
            if r.low > r.high or (r.log and r.low <= 0):
                problems.append((f"{where}{suffix}", f"empty range: low {r.low} > high {r.high}"
                                 if r.low > r.high else "a log range needs low > 0"))
        for value in _samples(space):
            try:
                model.model_validate({**current, name: value})
            except ValidationError as exc:
                problems += [(where, f"value {json.dumps(value)} is refused by "
                              f"{_owner(path)}: {err['msg']}") for err in exc.errors()]
                break
    if scenario.target.name != "qemu":
        problems += [(f"objectives[{i}]", f"'{o}' is measured on a board: the target must be qemu")
                     for i, o in enumerate(search.objectives) if o in BOARD_OBJECTIVES]
    if scenario.spec.model.train is None or not hasattr(scenario.model, "untrained"):
        problems.append(("(search)", "the model must be a trainable zoo architecture with a "
                         "'model.train' section"))
    if problems:
        raise _invalid(problems)
    return search


def _owner(path: str) -> str:
    return "the training settings" if path.startswith("model.train.") else f"'{path.split('.parameters')[0]}'"


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        bracket = isinstance(part, int) or "." in str(part)  # parameter paths contain dots
        out += f"[{part}]" if bracket else (f".{part}" if out else str(part))
    return out or "(section)"


def _invalid(problems: list[tuple[str, str]]) -> InputError:
    lines = [f"search.{where}: {message}" for where, message in problems]
    return InputError("invalid search section:\n  " + "\n  ".join(lines),
                      hint="see docs/automl.md, 'The search section'")


def suggest(trial: Any, search: Search) -> dict[str, Any]:
    """One candidate's values, drawn by an Optuna trial (define-by-run: a list's items exist
    only up to its drawn length)."""
    values = {}
    for path, space in search.parameters.items():
        if isinstance(space, ListSpace):
            n = trial.suggest_int(f"{path}.length", *space.length)
            values[path] = [_draw(trial, f"{path}[{i}]", space.items) for i in range(n)]
        else:
            values[path] = _draw(trial, path, space)
    return values


def _draw(trial: Any, name: str, space: Range | Choices) -> Any:
    if isinstance(space, Choices):
        # Optuna stores plain scalars: other choices (lists) travel as JSON text
        plain = all(isinstance(c, str | int | float | bool) or c is None for c in space.choices)
        options = space.choices if plain else [json.dumps(c) for c in space.choices]
        value = trial.suggest_categorical(name, options)
        return value if plain else json.loads(value)
    if space.integer:
        return trial.suggest_int(name, int(space.low), int(space.high), step=int(space.step or 1),
                                 log=space.log)
    return trial.suggest_float(name, float(space.low), float(space.high), step=space.step, log=space.log)


def apply(base: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """The scenario mapping with a candidate's values put in place."""
    data = copy.deepcopy(base)
    for path, value in values.items():
        section, index, name, train_field = PATH.match(path).groups()
        if train_field:
            data["model"].setdefault("train", {})[train_field] = value
            continue
        component = data["optimizers"][int(index)] if index is not None else data[section]
        component.setdefault("parameters", {})[name] = value
    return data


def resolve_platform(search: Search, base_dir: Path) -> Any:
    from heiti.automl.rules import load_rules

    return load_rules(search.platform, base_dir) if search.platform else None
