"""A detection dataset in COCO format: an annotations JSON file and a folder of images."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, PositiveInt

from heiti.core.cache import content_digest
from heiti.core.dataset import Dataset, Samples
from heiti.core.files import require_dir, require_file
from heiti.core.iospec import IOSpec
from heiti.datasets.image_folder import image_size_hint
from heiti.datasets.splitting import SplitParams, split_samples
from heiti.errors import InputError

TOLERANCE = 1.0  # pixels a box may exceed its image by (rounding in exported files); clipped


class CocoJsonParams(SplitParams):
    annotations: Path = Field(description="COCO annotations file (JSON with images, annotations, "
                              "categories)")
    images: Path | None = Field(None, description="folder the images' file_name is relative to "
                                "(default: the annotations file's folder)")
    size: tuple[PositiveInt, PositiveInt] = Field(
        (128, 128), description="height and width after resizing; boxes are scaled with the image")
    grayscale: bool = False


@dataclass
class _Image:
    entry: str  # how the error messages name it, e.g. "images[3] (id 7, 'a.png')"
    file_name: str
    path: Path
    width: int
    height: int
    boxes: list[list[float]]
    labels: list[int]


class CocoJson(Dataset):
    """COCO-format object detection: ``images`` (id, file_name, width, height),
    ``annotations`` (image_id, category_id, bbox as x, y, width, height in pixels) and
    ``categories`` (id, name).

    Images are read with Pillow, resized to ``size`` (bilinear), scaled to [0, 1], NCHW
    float32; boxes become x1, y1, x2, y2 in resized pixels. Categories are sorted by id;
    crowd annotations (``iscrowd: 1``) are skipped. A malformed file (bad JSON, a missing
    image, a box outside its image, an unknown image or category id) is refused naming
    the file and the entry."""

    name = "coco-json"
    Params = CocoJsonParams
    default_task: ClassVar[str] = "detection"

    _document: dict[str, Any] | None = None

    @property
    def class_names(self) -> list[str]:
        return [name for _, name in self._categories()]

    def fit_hint(self, io: IOSpec) -> str | None:
        return image_size_hint(io, self.name)

    def fingerprint(self) -> dict[str, Any]:
        found = super().fingerprint()
        if self.params.images is None:  # the annotations' folder: only the images they name count
            digest = hashlib.sha256()
            for image in self._images():
                digest.update(f"{image.file_name}\0{content_digest(image.path)}\0".encode())
            found["parameters"]["images"] = f"sha256:{digest.hexdigest()}"
        return found

    @property
    def _file(self) -> Path:
        return self.params.annotations

    def _load(self) -> dict[str, Any]:
        if self._document is None:
            path = require_file(self._file, self.given_paths.get("annotations"),
                                what="COCO annotations file")
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
            except UnicodeDecodeError as exc:
                raise InputError(f"'{path}' is not a UTF-8 text file: {exc}") from None
            except json.JSONDecodeError as exc:
                raise InputError(f"'{path}' is not valid JSON: line {exc.lineno}, column {exc.colno}: "
                                 f"{exc.msg}") from None
            except RecursionError:  # arrays in arrays thousands deep: no COCO file looks so
                raise InputError(f"'{path}' is nested too deeply to be a COCO annotations file",
                                 hint="a COCO file is an object of three lists of flat "
                                      "entries") from None
            if not isinstance(document, dict):
                raise InputError(f"'{path}' holds a JSON {type(document).__name__}, not a COCO object")
            for key in ("images", "annotations", "categories"):
                if not isinstance(document.get(key), list):
                    raise InputError(f"'{path}' has no '{key}' list",
                                     hint="a COCO file has lists 'images', 'annotations' and "
                                          "'categories'")
            self._document = document
        return self._document

    def _error(self, entry: str, problem: str) -> InputError:
        return InputError(f"'{self._file}': {entry}: {problem}",
                          hint="fix the entry in the annotations file or remove it")

    def _categories(self) -> list[tuple[int, str]]:
        found: dict[int, str] = {}
        for i, category in enumerate(self._load()["categories"]):
            entry = f"categories[{i}]"
            if not isinstance(category, dict) or not _is_int(category.get("id")):
                raise self._error(entry, "needs an integer 'id'")
            if category["id"] in found:
                raise self._error(entry, f"repeats category id {category['id']}")
            found[category["id"]] = str(category.get("name", category["id"]))
        if not found:
            raise InputError(f"'{self._file}' has no categories")
        return sorted(found.items())

    def _images(self) -> list[_Image]:
        folder = self.params.images or self._file.parent
        require_dir(folder, self.given_paths.get("images"), what="COCO image folder")
        images: dict[int, _Image] = {}
        for i, item in enumerate(self._load()["images"]):
            if not isinstance(item, dict) or not _is_int(item.get("id")) \
                    or not isinstance(item.get("file_name"), str):
                raise self._error(f"images[{i}]", "needs an integer 'id' and a 'file_name'")
            entry = f"images[{i}] (id {item['id']}, '{item['file_name']}')"
            if item["id"] in images:
                raise self._error(entry, f"repeats image id {item['id']}")
            path = folder / item["file_name"]
            if not path.is_file():
                raise self._error(entry, f"image file '{path}' does not exist")
            width, height = self._size(path, item, entry)
            images[item["id"]] = _Image(entry, item["file_name"], path, width, height, [], [])
        labels = {category: label for label, (category, _) in enumerate(self._categories())}
        for i, annotation in enumerate(self._load()["annotations"]):
            self._add(images, labels, i, annotation)
        return list(images.values())

    def _size(self, path: Path, item: dict[str, Any], entry: str) -> tuple[int, int]:
        """The image's size as its file has it; a declared size must agree."""
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as image:
                width, height = image.size
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
            raise self._error(entry, f"cannot read image '{path}': {exc}") from None
        declared = (item.get("width", width), item.get("height", height))
        if declared != (width, height):
            raise self._error(entry, f"declares {declared[0]}x{declared[1]} pixels, the file has "
                                     f"{width}x{height}")
        return width, height

    def _add(self, images: dict[int, _Image], labels: dict[int, int], i: int, annotation: Any) -> None:
        if not isinstance(annotation, dict):
            raise self._error(f"annotations[{i}]", "is not an object")
        entry = f"annotations[{i}]" + (f" (id {annotation['id']})" if "id" in annotation else "")
        image = images.get(annotation.get("image_id"))
        if image is None:
            raise self._error(entry, f"unknown image_id {annotation.get('image_id')!r}")
        if annotation.get("category_id") not in labels:
            known = ", ".join(str(c) for c in labels)
            raise self._error(entry, f"unknown category_id {annotation.get('category_id')!r} "
                                     f"(categories: {known})")
        box = annotation.get("bbox")
        if not (isinstance(box, list) and len(box) == 4
                and all(isinstance(v, int | float) and not isinstance(v, bool) for v in box)):
            raise self._error(entry, f"bbox {box!r} is not [x, y, width, height]")
        if not all(math.isfinite(v) for v in box):  # Python's JSON reads NaN and Infinity
            raise self._error(entry, f"bbox {box!r} holds a value that is not a finite number")
        if annotation.get("iscrowd", 0):
            return
        x, y, w, h = (float(v) for v in box)
        if w <= 0 or h <= 0 or x < -TOLERANCE or y < -TOLERANCE \
                or x + w > image.width + TOLERANCE or y + h > image.height + TOLERANCE:
            raise self._error(entry, f"bbox {box} lies outside its image {image.entry} "
                                     f"({image.width}x{image.height} pixels) or is empty")
        image.boxes.append([max(x, 0), max(y, 0), min(x + w, image.width), min(y + h, image.height)])
        image.labels.append(labels[annotation["category_id"]])

    def _load_splits(self) -> dict[str, Samples]:
        height, width = self.params.size
        pixels, truth, ids = [], [], []
        for image in self._images():
            pixels.append(self._read(image))
            scale = np.array([width / image.width, height / image.height] * 2, dtype=np.float32)
            truth.append({"boxes": np.asarray(image.boxes, np.float32).reshape(-1, 4) * scale,
                          "labels": np.asarray(image.labels, np.int64)})
            ids.append(image.file_name)
        if not pixels:
            raise InputError(f"'{self._file}' lists no images")
        return split_samples(self.task, {"input": np.stack(pixels)}, truth, self.params, ids)

    def _read(self, image: _Image) -> np.ndarray:
        from PIL import Image

        height, width = self.params.size
        try:
            with Image.open(image.path) as opened:
                resized = opened.convert("L" if self.params.grayscale else "RGB").resize(
                    (width, height), Image.Resampling.BILINEAR)
        except OSError as exc:
            raise self._error(image.entry, f"cannot read image '{image.path}': {exc}") from None
        array = np.asarray(resized, dtype=np.float32) / 255.0
        return (array[None] if array.ndim == 2 else array.transpose(2, 0, 1)).astype(np.float32)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
