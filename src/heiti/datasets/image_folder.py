"""Images in one sub-folder per class (PNG, JPEG, BMP), read with Pillow."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from pydantic import Field, PositiveInt, model_validator

from heiti.core.component import Params
from heiti.core.dataset import Dataset, Samples
from heiti.core.files import require_dir
from heiti.core.iospec import IOSpec
from heiti.datasets.splitting import SplitParams, split_samples
from heiti.errors import InputError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp"}


class ImagePreprocessing(Params):
    """How an image becomes a model input (shared with the flows' image source)."""

    size: tuple[PositiveInt, PositiveInt] = Field((32, 32), description="height and width after "
                                                  "resizing")
    grayscale: bool = False
    mean: list[float] = Field([0.0], description="per-channel mean subtracted after scaling to [0, 1]")
    std: list[float] = Field([1.0], description="per-channel divisor after mean subtraction")

    @model_validator(mode="after")
    def _check_normalization(self) -> ImagePreprocessing:
        channels = 1 if self.grayscale else 3
        for field in ("mean", "std"):
            if len(getattr(self, field)) not in (1, channels):
                raise ValueError(f"{field} needs 1 or {channels} values")
        if any(s == 0 for s in self.std):
            raise ValueError("std values must not be zero")
        return self


class ImageFolderParams(SplitParams, ImagePreprocessing):
    path: Path = Field(description="folder with one sub-folder of images per class")


def image_size_hint(io: IOSpec, dataset: str) -> str | None:
    """How to set an image dataset's ``size`` and ``grayscale`` for a model taking one image."""
    shape = io.inputs[0].shape if len(io.inputs) == 1 else []
    if len(shape) != 4 or shape[1] not in (1, 3) or min(shape[2:]) <= 0:
        return None
    return (f"set 'size: [{shape[2]}, {shape[3]}]' and 'grayscale: {str(shape[1] == 1).lower()}' "
            f"in the {dataset} parameters")


class ImageFolder(Dataset):
    """A classification dataset from a folder tree: ``path/CLASS/IMAGE``.

    Images are resized (bilinear), scaled to [0, 1], normalized with ``mean`` and
    ``std`` and laid out channels-first (NCHW float32). Classes are the sorted
    sub-folder names.
    """

    name = "image-folder"
    Params = ImageFolderParams

    @property
    def class_names(self) -> list[str]:
        root = require_dir(self.params.path, self.given_paths.get("path"), what="image folder")
        names = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if len(names) < 2:
            raise InputError(f"image folder '{root}' needs at least two class sub-folders")
        return names

    def fit_hint(self, io: IOSpec) -> str | None:
        return image_size_hint(io, self.name)

    def _load_splits(self) -> dict[str, Samples]:
        images, labels, ids = [], [], []
        for label, name in enumerate(self.class_names):
            # regular files only: a FIFO or a device named like an image would block the read
            files = sorted(f for f in (self.params.path / name).iterdir()
                           if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
            if not files:
                raise InputError(f"class folder '{self.params.path / name}' holds no images")
            images += [read_image(f, self.params) for f in files]
            labels += [label] * len(files)
            ids += [f.relative_to(self.params.path).as_posix() for f in files]
        x = np.stack(images)
        return split_samples(self.task, {"input": x}, np.asarray(labels, dtype=np.int64),
                             self.params, ids)


def read_image(file: Path, params: ImagePreprocessing) -> np.ndarray:
    """One image, resized (bilinear), scaled to [0, 1], normalized, channels first."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # Pillow warns above ~89 Mpixel (a small file can decode to gigabytes): refuse
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(file)
        with image:
            image = image.convert("L" if params.grayscale else "RGB")
            height, width = params.size
            image = image.resize((width, height), Image.Resampling.BILINEAR)
            pixels = np.asarray(image, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:
        raise InputError(f"cannot read image '{file}': {exc}") from None
    pixels = pixels[:, :, None] if pixels.ndim == 2 else pixels
    mean = np.asarray(params.mean, dtype=np.float32)
    std = np.asarray(params.std, dtype=np.float32)
    return ((pixels - mean) / std).transpose(2, 0, 1).astype(np.float32)
