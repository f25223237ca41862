"""Quality metrics per task."""

from __future__ import annotations

from typing import Any

import numpy as np

from heiti.errors import InputError


def evaluate(task: str, outputs: np.ndarray, truth: np.ndarray, class_names: list[str]) -> dict[str, Any]:
    if task == "classification":
        from heiti.evaluation.classification import classification_metrics

        return classification_metrics(outputs, truth, class_names)
    raise InputError(f"no metrics for task '{task}'")
