"""Boxes from a centre-heatmap detector's raw outputs: peak picking, box decoding and
class-wise non-maximum suppression (NumPy, after inference, outside the timed region).

The model outputs ``heatmap`` (N, C, h, w): per class, the score that an object's centre
lies in each output cell, and ``ltrb`` (N, 4, h, w): the distances from the cell's centre
to the box's left, top, right and bottom edges, in cells. A cell is ``stride`` input pixels
with strides of input height / h down and input width / w across.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from heiti.evaluation.boxes import box_iou


def apply(outputs: dict[str, np.ndarray], inputs: dict[str, np.ndarray], *,
          score_threshold: float = 0.05, iou_threshold: float = 0.6, max_detections: int = 100,
          ) -> dict[str, Any]:
    """Per image ``boxes`` (n, 4) xyxy input pixels, ``scores`` (n,) and ``labels`` (n,)."""
    heatmap, ltrb = outputs["heatmap"], outputs["ltrb"]
    height, width = next(iter(inputs.values())).shape[-2:]
    stride = (height / heatmap.shape[-2], width / heatmap.shape[-1])
    decoded: dict[str, list[np.ndarray]] = {"boxes": [], "scores": [], "labels": []}
    for scores, distances in zip(heatmap, ltrb, strict=True):
        boxes, kept_scores, labels = _decode(scores, distances, stride, score_threshold, max_detections)
        boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, width)
        boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, height)
        keep = class_nms(boxes, kept_scores, labels, iou_threshold)
        decoded["boxes"].append(boxes[keep])
        decoded["scores"].append(kept_scores[keep])
        decoded["labels"].append(labels[keep])
    return decoded


def _decode(scores: np.ndarray, distances: np.ndarray, stride: tuple[float, float], threshold: float,
            limit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``limit`` best cells that are a local maximum (3x3) of their class's heatmap."""
    classes, rows, cols = scores.shape
    padded = np.pad(scores, ((0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    neighbours = np.stack([padded[:, dy : dy + rows, dx : dx + cols]
                           for dy in range(3) for dx in range(3)])
    peak = (scores >= neighbours.max(axis=0)) & (scores >= threshold)
    label, row, col = np.nonzero(peak)
    value = scores[label, row, col]
    best = np.argsort(-value, kind="stable")[:limit]
    label, row, col, value = label[best], row[best], col[best], value[best]
    down, across = stride
    cx, cy = (col + 0.5) * across, (row + 0.5) * down
    left, right = distances[0, row, col] * across, distances[2, row, col] * across
    top, bottom = distances[1, row, col] * down, distances[3, row, col] * down
    boxes = np.stack([cx - left, cy - top, cx + right, cy + bottom], axis=1).astype(np.float32)
    return boxes, value.astype(np.float32), label.astype(np.int64)


def class_nms(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, iou_threshold: float
              ) -> np.ndarray:
    """Indices kept by greedy NMS within each class, best score first."""
    order = np.argsort(-scores, kind="stable")
    # boxes of different classes are moved apart so that they never overlap: one IoU matrix
    span = float(boxes.max(initial=0.0)) + 1.0
    moved = boxes[order] + (labels[order] * span)[:, None]
    overlaps = box_iou(moved[:, None], moved[None]) > iou_threshold
    suppressed = np.zeros(len(order), dtype=bool)
    keep = []
    for i in range(len(order)):
        if not suppressed[i]:
            keep.append(order[i])
            suppressed |= overlaps[i]
    return np.asarray(keep, dtype=np.int64)
