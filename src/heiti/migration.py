"""The new way for scenario fields that were removed or whose old meaning is gone.

A scenario written for an earlier heiti fails validation on such a field; the loader
asks here for the hint that turns "Extra inputs are not permitted" into what to write
instead. Each entry matches a field name anywhere in the file, the kind of validation
error and, where it matters, the value given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic_core import ErrorDetails

_EVALUATE_ALL = ("'test: {split: all}' evaluates every sample of the dataset (a model "
                 "trained elsewhere); remove val_fraction/test_fraction, which only shape the "
                 "train/val/test split")
_BY_NAME = ("removed: a model's inputs take the dataset's inputs of the same name (a "
            "single-input model takes the dataset's only input); to pick the tensor a task "
            "reads, set the task's 'input' or 'output' parameter, e.g. "
            "'task: {type: anomaly, parameters: {input: NAME}}'")


@dataclass(frozen=True)
class Retired:
    field: str
    errors: tuple[str, ...]  # pydantic error types that the old usage raises
    hint: str
    value: Callable[[Any], bool] = lambda given: True  # the old usage's values


RETIRED = (
    Retired("input_name", ("extra_forbidden",), f"'input_name' was {_BY_NAME}"),
    Retired("output_name", ("extra_forbidden",), f"'output_name' was {_BY_NAME}"),
    Retired("val_fraction", ("greater_than",), f"'val_fraction: 0' no longer means "
            f"'no validation': {_EVALUATE_ALL}", lambda given: _number(given) == 0),
    Retired("test_fraction", ("less_than",), f"'test_fraction: 1' no longer means 'test on "
            f"everything': {_EVALUATE_ALL}", lambda given: _number(given) == 1),
)


def migration_hint(error: ErrorDetails) -> str | None:
    """How to write today what ``error``'s field meant before, or None."""
    field = error["loc"][-1] if error["loc"] else None
    for retired in RETIRED:
        if retired.field == field and error["type"] in retired.errors \
                and retired.value(error.get("input")):
            return retired.hint
    return None


def _number(given: Any) -> float | None:
    try:
        return float(given)
    except (TypeError, ValueError):
        return None
