"""Deterministic train/val/test splits shared by the datasets; the task decides how."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from heiti.core.component import MAX_SEED, Params
from heiti.core.dataset import Samples
from heiti.core.task import Task
from heiti.errors import InputError


class SplitParams(Params):
    seed: int = Field(0, ge=0, le=MAX_SEED, description="seed of the split and of calibration "
                      "sampling")
    val_fraction: float = Field(0.15, gt=0, lt=0.5, description="share of samples for validation "
                                "(0 < f < 0.5); 'test: {split: all}' evaluates every sample")
    test_fraction: float = Field(0.2, gt=0, lt=0.5, description="share of samples for testing "
                                 "(0 < f < 0.5)")
    calibration_size: int = Field(200, ge=1, description="samples drawn from train for calibration")


def split_samples(task: Task, inputs: dict[str, np.ndarray], truth: Any, params: SplitParams,
                  ids: list[str] | None = None) -> dict[str, Samples]:
    """The task's split of all samples (same seed, same split), a calibration subset of
    train, and ``all`` (every sample, for evaluating a model trained elsewhere)."""
    rng = np.random.default_rng(params.seed)
    everything = Samples(inputs, truth, ids)
    try:
        index = task.split(truth, {"val": params.val_fraction, "test": params.test_fraction}, rng)
    except InputError as exc:  # too few samples to split: evaluating on all of them still works
        return _OnlyAll({"all": everything}, exc)
    return _with_calibration(everything, index, rng, params)


def assigned_splits(inputs: dict[str, np.ndarray], truth: Any, membership: np.ndarray,
                    params: SplitParams, ids: list[str] | None = None) -> dict[str, Samples]:
    """Splits the dataset decides itself (``membership[i]`` is "train", "val" or "test"):
    lists shipped with the data, or groups such as speakers that must not straddle splits."""
    membership = np.asarray(membership)
    index = {name: np.flatnonzero(membership == name) for name in ("train", "val", "test")}
    empty = [name for name, chosen in index.items() if len(chosen) == 0]
    if empty:
        raise InputError(f"the {' and '.join(empty)} split{'s are' if len(empty) > 1 else ' is'} empty",
                         hint="add samples, or change the split fractions")
    return _with_calibration(Samples(inputs, truth, ids), index, np.random.default_rng(params.seed), params)


def _with_calibration(everything: Samples, index: dict[str, np.ndarray], rng: np.random.Generator,
                      params: SplitParams) -> dict[str, Samples]:
    splits = {name: everything.take(index[name]) for name in ("train", "val", "test")}
    pick = rng.permutation(len(splits["train"]))[: params.calibration_size]
    splits["calibration"] = splits["train"].take(pick)
    splits["all"] = everything
    return splits


class _OnlyAll(dict):
    """The splits of a dataset too small to split: asking for any but ``all`` raises why."""

    def __init__(self, splits: dict[str, Samples], error: InputError):
        super().__init__(splits)
        self.error = error

    def __missing__(self, name: str) -> Samples:
        raise self.error
