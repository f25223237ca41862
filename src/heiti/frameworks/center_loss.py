"""Training loss of centre-heatmap detectors (CenterNet's focal loss on the heatmap, GIoU
on the boxes regressed around each centre, as in TTFNet).

Targets are built per batch from the truth (boxes in input pixels): each object puts a
Gaussian on its class's heatmap, peaking at 1 in the cell holding its centre, with a
spread proportional to its width and height; cells near the centre and inside the box
regress its edges, weighted by the Gaussian (the smaller object wins where two meet).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

MIN_SPREAD = 0.5  # cells: even the smallest object teaches its neighbouring cells
REGRESSION_FLOOR = 0.1  # Gaussian value below which a cell does not regress the box
BOX_WEIGHT = 2.0


def center_targets(truth: list[dict[str, np.ndarray]], classes: int, grid: tuple[int, int],
                   stride: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Heatmaps (N, C, h, w), box per cell (N, 4, h, w) and regression weights (N, h, w);
    ``stride`` is the input pixels per cell down and across."""
    rows, cols = grid
    scale = np.array([stride[1], stride[0]] * 2, np.float32)  # x1 y1 x2 y2 to cells
    heat = np.zeros((len(truth), classes, rows, cols), np.float32)
    boxes = np.zeros((len(truth), 4, rows, cols), np.float32)
    weight = np.zeros((len(truth), rows, cols), np.float32)
    cy, cx = np.mgrid[0:rows, 0:cols].astype(np.float32) + 0.5
    for n, item in enumerate(truth):
        objects = np.asarray(item["boxes"], np.float32).reshape(-1, 4) / scale
        areas = (objects[:, 2] - objects[:, 0]) * (objects[:, 3] - objects[:, 1])
        for k in np.argsort(-areas):  # larger first, so smaller objects overwrite shared cells
            x1, y1, x2, y2 = objects[k]
            centre_col = min(int((x1 + x2) / 2), cols - 1)
            centre_row = min(int((y1 + y2) / 2), rows - 1)
            sx, sy = max((x2 - x1) / 6, MIN_SPREAD), max((y2 - y1) / 6, MIN_SPREAD)
            gauss = np.exp(-((cx - centre_col - 0.5) ** 2 / (2 * sx * sx)
                             + (cy - centre_row - 0.5) ** 2 / (2 * sy * sy)))
            label = int(item["labels"][k])
            np.maximum(heat[n, label], gauss, out=heat[n, label])
            region = (gauss >= REGRESSION_FLOOR) & (cx > x1) & (cx < x2) & (cy > y1) & (cy < y2)
            region[centre_row, centre_col] = True
            weight[n][region] = gauss[region]
            boxes[n][:, region] = (objects[k] * scale)[:, None]
    return heat, boxes, weight


def center_loss(heatmap: Any, ltrb: Any, truth: list[dict[str, np.ndarray]],
                image_size: tuple[int, int]) -> Any:
    """Focal loss per object plus weighted GIoU loss; ``heatmap`` holds probabilities and
    ``image_size`` is the input's height and width."""
    _, classes, rows, cols = heatmap.shape
    stride = (image_size[0] / rows, image_size[1] / cols)
    heat, boxes, weight = (torch.from_numpy(a) for a in
                           center_targets(truth, classes, (rows, cols), stride))
    p = heatmap.clamp(1e-4, 1 - 1e-4)
    positive = heat.eq(1).float()
    focal = -(positive * (1 - p) ** 2 * torch.log(p)
              + (1 - positive) * (1 - heat) ** 4 * p ** 2 * torch.log(1 - p)).sum()
    focal = focal / positive.sum().clamp(min=1)
    cy, cx = (t + 0.5 for t in torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij"))
    scale = torch.tensor([stride[1], stride[0]] * 2).view(1, 4, 1, 1)
    predicted = torch.stack([cx - ltrb[:, 0], cy - ltrb[:, 1], cx + ltrb[:, 2], cy + ltrb[:, 3]],
                            dim=1) * scale
    mask = weight > 0
    if not mask.any():
        return focal
    giou = _giou(predicted.permute(0, 2, 3, 1)[mask], boxes.permute(0, 2, 3, 1)[mask])
    return focal + BOX_WEIGHT * ((1 - giou) * weight[mask]).sum() / weight[mask].sum()


def _giou(a: Any, b: Any) -> Any:
    """Generalised IoU of matching rows of two (n, 4) xyxy tensors."""
    inter = ((torch.minimum(a[:, 2], b[:, 2]) - torch.maximum(a[:, 0], b[:, 0])).clamp(min=0)
             * (torch.minimum(a[:, 3], b[:, 3]) - torch.maximum(a[:, 1], b[:, 1])).clamp(min=0))
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a + area_b - inter
    hull = ((torch.maximum(a[:, 2], b[:, 2]) - torch.minimum(a[:, 0], b[:, 0]))
            * (torch.maximum(a[:, 3], b[:, 3]) - torch.minimum(a[:, 1], b[:, 1])))
    return inter / union.clamp(min=1e-6) - (hull - union) / hull.clamp(min=1e-6)
