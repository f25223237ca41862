"""Images from a folder (recursively, in name order), preprocessed like the image-folder dataset."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import Field

from heiti.core.component import Component
from heiti.core.files import require_dir
from heiti.datasets.image_folder import IMAGE_SUFFIXES, ImagePreprocessing, read_image
from heiti.errors import InputError
from heiti.flows.stage import DatasetAware, Item, Source


class ImageFolderSourceParams(ImagePreprocessing):
    path: Path = Field(description="folder of images (sub-folders included)")
    input: str = Field("input", description="name of the tensor the images become")


class ImageFolderSource(DatasetAware, Source):
    """Every image below a folder, one item each: resized, scaled to [0, 1], normalized
    and channels first, as the image-folder dataset prepares them for training (with a
    scenario's model, parameters left out come from its image-folder dataset)."""

    name = "image-folder"
    Params = ImageFolderSourceParams

    def dataset_settings(self, dataset: Component) -> dict[str, Any]:
        if not isinstance(dataset.params, ImagePreprocessing):
            return {}
        return {f: getattr(dataset.params, f) for f in ImagePreprocessing.model_fields}

    def items(self) -> Iterator[Item]:
        root = require_dir(self.params.path, self.given_paths.get("path"), what="image folder")
        files = sorted(f for f in root.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
        if not files:
            raise InputError(f"image folder '{root}' holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        for seq, file in enumerate(files):
            pixels = read_image(file, self.params)
            yield Item(seq, file.relative_to(root).as_posix(), tensors={self.params.input: pixels[None]})
