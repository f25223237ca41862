"""Generated images of coloured geometric objects with known boxes: a detection dataset
that needs no download, so the detection demo and its tests run offline."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from pydantic import Field, model_validator

from heiti.core.dataset import Dataset, Samples
from heiti.datasets.splitting import SplitParams, split_samples
from heiti.evaluation.boxes import box_iou

SHAPES = ("rectangle", "ellipse", "triangle")


class ShapesParams(SplitParams):
    images: int = Field(1200, ge=10, description="number of images generated")
    size: int = Field(64, ge=16, description="height and width of each image in pixels")
    objects: tuple[int, int] = Field((1, 4), description="fewest and most objects per image")
    object_size: tuple[int, int] = Field((10, 28), description="smallest and largest object "
                                         "side in pixels")
    max_overlap: float = Field(0.3, ge=0, le=1, description="largest IoU between two objects' "
                               "boxes (0: no overlap)")
    noise: float = Field(0.03, ge=0, le=0.5, description="standard deviation of pixel noise "
                         "(image scaled to [0, 1])")

    @model_validator(mode="after")
    def _check_ranges(self) -> ShapesParams:
        if not 1 <= self.objects[0] <= self.objects[1]:
            raise ValueError("objects needs 1 <= fewest <= most")
        if not 4 <= self.object_size[0] <= self.object_size[1] <= self.size:
            raise ValueError("object_size needs 4 <= smallest <= largest <= size")
        return self


class Shapes(Dataset):
    """Seeded RGB images with 1-4 filled rectangles, ellipses and triangles of random
    colour, size and position on a random background; the truth per image is its boxes
    (x1, y1, x2, y2 in pixels) and their classes.

    Images are NCHW float32 in [0, 1]. The same ``seed`` gives the same images (and the
    same split); a box bounds its object's pixels, also where another object covers
    part of it (overlap is limited by ``max_overlap``)."""

    name = "shapes"
    Params = ShapesParams
    default_task: ClassVar[str] = "detection"

    @property
    def class_names(self) -> list[str]:
        return list(SHAPES)

    def _load_splits(self) -> dict[str, Samples]:
        rng = np.random.default_rng([self.params.seed, 1])  # a stream apart from the split's
        images, truth = zip(*(self._image(rng) for _ in range(self.params.images)), strict=True)
        return split_samples(self.task, {"input": np.stack(images)}, list(truth), self.params)

    def _image(self, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        from PIL import Image, ImageDraw

        size = self.params.size
        background = rng.uniform(0, 1, 3)
        image = Image.new("RGB", (size, size), _rgb(background))
        draw = ImageDraw.Draw(image)
        boxes: list[np.ndarray] = []
        labels: list[int] = []
        wanted = rng.integers(self.params.objects[0], self.params.objects[1] + 1)
        for _ in range(50 * wanted):  # placements that overlap too much are drawn again
            if len(boxes) == wanted:
                break
            box = self._place(rng)
            if boxes and box_iou(np.stack(boxes), box).max() > self.params.max_overlap:
                continue
            label = int(rng.integers(len(SHAPES)))
            _draw(draw, SHAPES[label], box, _rgb(_contrasting(background, rng)))
            boxes.append(box)
            labels.append(label)
        pixels = np.asarray(image, dtype=np.float32) / 255.0
        pixels = np.clip(pixels + rng.normal(0, self.params.noise, pixels.shape), 0, 1)
        truth = {"boxes": np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
                 "labels": np.asarray(labels, dtype=np.int64)}
        return pixels.transpose(2, 0, 1).astype(np.float32), truth

    def _place(self, rng: np.random.Generator) -> np.ndarray:
        low, high = self.params.object_size
        width, height = rng.integers(low, high + 1, 2)
        x1 = rng.integers(0, self.params.size - width + 1)
        y1 = rng.integers(0, self.params.size - height + 1)
        return np.array([x1, y1, x1 + width, y1 + height], dtype=np.float32)


def _contrasting(background: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random colour at least a fixed distance from the background, so every object shows."""
    while True:
        colour = rng.uniform(0, 1, 3)
        if np.abs(colour - background).sum() > 0.6:
            return colour


def _rgb(colour: np.ndarray) -> tuple[int, int, int]:
    r, g, b = (int(round(c * 255)) for c in colour)
    return r, g, b


def _draw(draw: Any, shape: str, box: np.ndarray, fill: tuple[int, int, int]) -> None:
    # Pillow's outlines include the end pixel: the shape covers [x1, x2 - 1] so that the box
    # (x1, y1, x2, y2) bounds its pixels exactly
    x1, y1, x2, y2 = (int(v) for v in box)
    corners = (x1, y1, x2 - 1, y2 - 1)
    if shape == "rectangle":
        draw.rectangle(corners, fill=fill)
    elif shape == "ellipse":
        draw.ellipse(corners, fill=fill)
    else:
        draw.polygon([((x1 + x2 - 1) / 2, y1), (x1, y2 - 1), (x2 - 1, y2 - 1)], fill=fill)
