"""Box geometry shared by the box generators and detector post-processing (xyxy pixels)."""

from __future__ import annotations

import numpy as np


def box_iou(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Intersection over union of each of ``boxes`` (n, 4) with ``box`` (4,)."""
    width = np.clip(np.minimum(boxes[:, 2], box[2]) - np.maximum(boxes[:, 0], box[0]), 0, None)
    height = np.clip(np.minimum(boxes[:, 3], box[3]) - np.maximum(boxes[:, 1], box[1]), 0, None)
    inter = width * height
    union = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
             + (box[2] - box[0]) * (box[3] - box[1]) - inter)
    return inter / np.maximum(union, 1e-9)
