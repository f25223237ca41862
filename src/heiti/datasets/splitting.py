"""Deterministic, stratified train/val/test splits shared by the datasets."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from heiti.core.component import Params
from heiti.core.dataset import Samples
from heiti.errors import InputError


class SplitParams(Params):
    seed: int = Field(0, description="seed of the split and of calibration sampling")
    val_fraction: float = Field(0.15, gt=0, lt=0.5)
    test_fraction: float = Field(0.2, gt=0, lt=0.5)
    calibration_size: int = Field(200, ge=1, description="samples drawn from train for calibration")


def stratified_splits(x: np.ndarray, y: np.ndarray, params: SplitParams) -> dict[str, Samples]:
    """Split per class so every split keeps the class proportions; same seed, same split."""
    rng = np.random.default_rng(params.seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for label in np.unique(y):
        index = np.flatnonzero(y == label)
        rng.shuffle(index)
        n_test = max(1, round(len(index) * params.test_fraction))
        n_val = max(1, round(len(index) * params.val_fraction))
        if len(index) < n_test + n_val + 1:
            raise InputError(
                f"class {label} has only {len(index)} samples: too few to split into "
                "train, validation and test"
            )
        parts["test"].append(index[:n_test])
        parts["val"].append(index[n_test : n_test + n_val])
        parts["train"].append(index[n_test + n_val :])
    splits = {}
    for name, chunks in parts.items():
        index = np.concatenate(chunks)
        index = index[rng.permutation(len(index))]
        splits[name] = Samples(x[index], y[index])
    train = splits["train"]
    pick = rng.permutation(len(train))[: params.calibration_size]
    splits["calibration"] = Samples(train.x[pick], train.y[pick])
    return splits
