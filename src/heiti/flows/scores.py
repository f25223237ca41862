"""Class scores of one item from a model output, for the postprocessing transforms."""

from __future__ import annotations

from typing import Literal

import numpy as np

from heiti.errors import InputError
from heiti.flows.stage import Item

ScoreKind = Literal["softmax", "probabilities"]


def class_scores(item: Item, output: str | None, kind: ScoreKind, stage: str) -> np.ndarray:
    """The item's scores per class (a vector): ``output`` or the only output, made
    probabilities with a softmax unless the model already gives them."""
    if output is None and len(item.tensors) != 1:
        raise InputError(f"{stage}: the model has outputs {', '.join(item.tensors)}; name one",
                         hint="set the 'output' parameter")
    name = output or next(iter(item.tensors))
    if name not in item.tensors:
        raise InputError(f"{stage}: no output named '{name}' (outputs: {', '.join(item.tensors)})")
    values = np.asarray(item.tensors[name], dtype=np.float64).reshape(-1)
    if kind == "softmax":
        values = np.exp(values - values.max())
        values /= values.sum()
    return values


def label(item: Item, index: int) -> str:
    names = item.class_names or []
    return names[index] if index < len(names) else str(index)
