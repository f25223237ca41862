"""scikit-learn's bundled handwritten digits (8x8 grey images, 10 classes)."""

from __future__ import annotations

import numpy as np

from heiti.core.dataset import Dataset, Samples
from heiti.datasets.splitting import SplitParams, split_samples


class Digits(Dataset):
    """Handwritten digits 0-9 as 1x8x8 images scaled to [0, 1] (1797 samples, no download).

    Raw pixel values are integers 0-16; the model's input contract is ``pixel / 16``.
    """

    name = "digits"
    Params = SplitParams

    @property
    def class_names(self) -> list[str]:
        return [str(d) for d in range(10)]

    def _load_splits(self) -> dict[str, Samples]:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        x = (bunch.images.astype(np.float32) / 16.0)[:, None, :, :]
        y = bunch.target.astype(np.int64)
        return split_samples(self.task, {"input": x}, y, self.params)
