"""Figures of the detection task: precision-recall curves, the score-threshold sweep and
test images with their true and predicted boxes."""

from __future__ import annotations

from typing import Any

import numpy as np

from heiti.report.plots import _figure, _png

TRUE_COLOUR = "#2ca02c"


def pr_curves(curves: dict[str, Any]) -> bytes:
    fig, ax = _figure(6, 4)
    for name, precision in curves["precision"].items():
        ax.plot(curves["recall"], precision, lw=1.5, label=name)
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02),
           title="Precision-recall per class at IoU 0.5 (COCO interpolation)")
    if curves["precision"]:
        ax.legend(fontsize=8, loc="lower left")
    return _png(fig)


def threshold_sweep(sweep: dict[str, list[float]], best: float) -> bytes:
    fig, ax = _figure(6, 3.6)
    for key in ("precision", "recall", "f1"):
        ax.plot(sweep["thresholds"], sweep[key], "o-", ms=3, lw=1.2, label=key)
    ax.axvline(best, color="#555", ls="--", lw=1, label=f"best F1 at {best:.2f}")
    ax.set(xlabel="score threshold", ylabel="value", ylim=(0, 1.02),
           title="Precision, recall and F1 against the score threshold (IoU 0.5)")
    ax.legend(fontsize=8)
    return _png(fig)


def examples_grid(images: np.ndarray, truth: list[dict[str, np.ndarray]],
                  detections: dict[str, list[np.ndarray]], class_names: list[str],
                  threshold: float, columns: int = 4) -> bytes:
    """Images (N, C, H, W) with true boxes dashed green and detections scoring at least
    ``threshold`` solid, coloured by class and labelled with class and score."""
    from matplotlib import patches
    from matplotlib import pyplot as plt

    rows = -(-len(images) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.4 * columns, 2.4 * rows + 0.4), dpi=110,
                             squeeze=False)
    palette = plt.get_cmap("tab10")
    for ax in axes.flat:
        ax.axis("off")
    for i, ax in enumerate(axes.flat[: len(images)]):
        height, width = images[i].shape[-2:]
        # pixel edges at integer coordinates, as in the boxes (imshow centres pixels on them)
        ax.imshow(_displayable(images[i]), cmap="gray", extent=(0, width, height, 0))
        for x1, y1, x2, y2 in np.asarray(truth[i]["boxes"]).reshape(-1, 4):
            ax.add_patch(patches.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, lw=1.2,
                                           ls="--", ec=TRUE_COLOUR))
        boxes, scores, labels = (detections[k][i] for k in ("boxes", "scores", "labels"))
        for (x1, y1, x2, y2), score, label in zip(boxes, scores, labels, strict=True):
            if score < threshold:
                continue
            colour = palette(int(label) % 10)
            ax.add_patch(patches.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, lw=1.2, ec=colour))
            ax.text(x1, y1, f"{_name(class_names, label)} {score:.2f}", fontsize=6, color="white",
                    va="bottom", bbox={"fc": colour, "ec": "none", "pad": 0.5, "alpha": 0.8})
    fig.suptitle(f"Test images: truth dashed green, detections with score ≥ {threshold:.2f}",
                 fontsize=9)
    return _png(fig)


def _displayable(image: np.ndarray) -> np.ndarray:
    """CHW of any scaling to HWC (or HW) in [0, 1]."""
    low, high = float(image.min()), float(image.max())
    scaled = (image - low) / (high - low) if high > low else np.zeros_like(image)
    return scaled[0] if scaled.shape[0] == 1 else scaled.transpose(1, 2, 0)


def _name(class_names: list[str], label: int) -> str:
    return class_names[label] if 0 <= label < len(class_names) else str(label)
