"""Named arrays from a NumPy ``.npz`` file: your own preprocessed tensors, any number of inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import Field

from heiti.core.dataset import Dataset, Samples
from heiti.core.files import require_file
from heiti.datasets.splitting import SplitParams, split_samples
from heiti.errors import InputError


class NpzArraysParams(SplitParams):
    path: Path = Field(description=".npz file (numpy.savez) with the inputs and the truth")
    truth: str = Field("labels", description="the array holding the ground truth, one row per sample")
    inputs: list[str] | None = Field(None, min_length=1, description="arrays fed to the model, by "
                                     "name (default: every array but the truth)")
    class_names: list[str] | None = Field(None, description="class labels (default: 0..N-1 for "
                                          "integer truth)")


class NpzArrays(Dataset):
    """Samples from a ``.npz`` file: every array but the truth is a model input named like
    the array (batch first), the truth array holds one label per sample. Values are fed as
    stored; preprocessing is yours. The task is classification unless the scenario's
    ``task`` section names another."""

    name = "npz-arrays"
    Params = NpzArraysParams

    @property
    def class_names(self) -> list[str]:
        if self.params.class_names is not None:
            return list(self.params.class_names)
        truth = self._arrays()[self.params.truth]
        if truth.ndim == 1 and np.issubdtype(truth.dtype, np.integer):
            return [str(i) for i in range(int(truth.max()) + 1)]
        return []

    def _arrays(self) -> dict[str, np.ndarray]:
        path = require_file(self.params.path, self.given_paths.get("path"), what="npz file")
        try:
            with np.load(path, allow_pickle=False) as archive:
                return {name: archive[name] for name in archive.files}
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read '{path}' as a .npz file: {exc}") from None

    def _load_splits(self) -> dict[str, Samples]:
        arrays = self._arrays()
        if self.params.truth not in arrays:
            raise InputError(f"'{self.params.path}' has no array '{self.params.truth}' "
                             f"(arrays: {', '.join(arrays)})", hint="set the 'truth' parameter")
        names = self.params.inputs or [n for n in arrays if n != self.params.truth]
        missing = [n for n in names if n not in arrays]
        if missing or not names:
            raise InputError(f"'{self.params.path}' lacks input arrays {missing or '(none)'} "
                             f"(arrays: {', '.join(arrays)})")
        truth = arrays[self.params.truth]
        lengths = {n: len(arrays[n]) for n in names}
        if any(n != len(truth) for n in lengths.values()):
            raise InputError(f"arrays of '{self.params.path}' differ in length: "
                             f"{lengths | {self.params.truth: len(truth)}}")
        return split_samples(self.task, {n: arrays[n] for n in names}, truth, self.params)
