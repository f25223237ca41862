"""Binding a dataset's named inputs to a model's, checked before anything runs.

A model's inputs take the dataset's inputs of the same name; a single-input model
takes a single-input dataset's input whatever the two names are. Shapes and dtypes
must fit, so that a mistake is reported with both sides named instead of surfacing
as a framework error in the middle of inference.
"""

from __future__ import annotations

import numpy as np

from heiti.core.iospec import IOSpec, TensorSpec
from heiti.errors import InputError

# dataset dtype -> model dtypes it may be cast to without losing values
_SAFE_CASTS = {"float32": {"float32", "float16", "float64"}, "float64": {"float32", "float64"},
               "uint8": {"uint8", "int16", "int32", "int64", "float32", "float16"},
               "int8": {"int8", "int16", "int32", "int64", "float32", "float16"},
               "int16": {"int16", "int32", "int64", "float32"}, "int32": {"int32", "int64"},
               "int64": {"int64"}, "bool": {"bool"}}


def input_names(dataset: list[TensorSpec], io: IOSpec) -> dict[str, str]:
    """Model input name -> dataset input name."""
    wanted = [spec.name for spec in io.inputs]
    given = [spec.name for spec in dataset]
    if len(wanted) == 1 and len(given) == 1:
        return {wanted[0]: given[0]}
    missing = [name for name in wanted if name not in given]
    if missing:
        raise InputError(f"the model's inputs ({', '.join(wanted)}) do not match the dataset's "
                         f"({', '.join(given)}): no dataset input named {', '.join(missing)}",
                         hint="a model with several inputs takes the dataset's inputs by name")
    return {name: name for name in wanted}


def check_inputs(dataset: list[TensorSpec], io: IOSpec, hint: str | None = None) -> None:
    """Refuse a dataset whose inputs cannot feed the model (shape or dtype)."""
    by_name = {spec.name: spec for spec in dataset}
    for model_name, data_name in input_names(dataset, io).items():
        want = next(s for s in io.inputs if s.name == model_name)
        got = by_name[data_name]
        shape_fits = len(want.shape) == len(got.shape) and all(
            w < 0 or g < 0 or w == g for w, g in zip(want.shape[1:], got.shape[1:], strict=True))
        # a quantized input (with a scale) takes real values: the runtime quantizes them
        dtype_fits = want.dtype in _SAFE_CASTS.get(got.dtype, {got.dtype}) or (
            want.scale is not None and got.dtype.startswith("float"))
        if not (shape_fits and dtype_fits):
            raise InputError(f"the dataset's samples do not fit the model: the model expects "
                             f"{want.describe()}, the dataset gives {got.describe()}",
                             hint=hint or "change the dataset's preprocessing parameters "
                                          "(size, channels, dtype) to match the model")


def bind(inputs: dict[str, np.ndarray], io: IOSpec) -> dict[str, np.ndarray]:
    """The dataset's arrays under the model's input names."""
    specs = [TensorSpec(name=k, shape=[-1, *v.shape[1:]], dtype=v.dtype.name)
             for k, v in inputs.items()]
    return {model: inputs[data] for model, data in input_names(specs, io).items()}
