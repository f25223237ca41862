"""Model post-processing applied after inference, outside the timed region.

A model that needs it (a detector decoding boxes and suppressing overlaps) names it in
its IO specification as ``{type: NAME, parameters: {...}}``; ``heiti.postprocess.NAME``
is a module with ``apply(outputs, inputs, **parameters) -> outputs``. The result may hold
ragged values (a list per sample) that only the task reads.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

import numpy as np

from heiti.errors import InputError


def apply(spec: dict[str, Any] | None, outputs: dict[str, np.ndarray],
          inputs: dict[str, np.ndarray]) -> dict[str, Any]:
    if spec is None:
        return outputs
    name = str(spec.get("type", ""))
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise InputError(f"the model names an unknown post-processing step {name!r}")
    try:
        module = importlib.import_module(f"heiti.postprocess.{name}")
    except ModuleNotFoundError:
        raise InputError(f"the model names an unknown post-processing step {name!r}") from None
    return module.apply(outputs, inputs, **spec.get("parameters", {}))
