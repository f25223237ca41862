"""COCO detection metrics with faster-coco-eval (the same numbers as pycocotools, faster).

Truth and detections are per image: ``{"boxes": (n, 4) xyxy pixels, "labels": (n,)}``,
detections also ``"scores"``. Besides COCO's summary (mAP@[.5:.95], AP50, AP75, AR) this
reports per-class AP and AR, precision, recall and F1 against the score threshold and
per-class precision-recall curves at IoU 0.5, all from the library's own matching.
"""

from __future__ import annotations

from typing import Any

import numpy as np

THRESHOLDS = np.round(np.arange(0.05, 1.0, 0.05), 2)  # score thresholds of the sweep
SUMMARY = {"map": "AP_all", "map50": "AP_50", "map75": "AP_75",
           "mar1": "AR_all", "mar10": "AR_second", "mar100": "AR_third"}


def coco_ground_truth(truth: list[dict[str, np.ndarray]], class_names: list[str],
                      size: tuple[int, int]) -> dict[str, Any]:
    """A COCO annotations document: image ids from 1, category id = label + 1."""
    height, width = size
    annotations = []
    for image_id, item in enumerate(truth, start=1):
        for box, label in zip(np.asarray(item["boxes"]).reshape(-1, 4), item["labels"], strict=True):
            x, y, w, h = _xywh(box)
            annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                "category_id": int(label) + 1, "bbox": [x, y, w, h],
                                "area": w * h, "iscrowd": 0})
    return {"images": [{"id": i, "width": width, "height": height}
                       for i in range(1, len(truth) + 1)],
            "annotations": annotations,
            "categories": [{"id": i + 1, "name": n} for i, n in enumerate(class_names)]}


def coco_detections(detections: list[dict[str, np.ndarray]]) -> list[dict[str, Any]]:
    results = []
    for image_id, item in enumerate(detections, start=1):
        for box, label, score in zip(np.asarray(item["boxes"]).reshape(-1, 4), item["labels"],
                                     item["scores"], strict=True):
            results.append({"image_id": image_id, "category_id": int(label) + 1,
                            "bbox": list(_xywh(box)), "score": float(score)})
    return results


def _xywh(box: np.ndarray) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return x1, y1, x2 - x1, y2 - y1


def detection_metrics(truth: list[dict[str, np.ndarray]], detections: list[dict[str, np.ndarray]],
                      class_names: list[str], size: tuple[int, int]) -> dict[str, Any]:
    """Scalar metrics (``SUMMARY`` keys, then precision, recall and F1 at the score
    threshold of best F1) and details: per-class table, threshold sweep, PR curves."""
    from faster_coco_eval import COCO, COCOeval_faster

    ground = COCO(coco_ground_truth(truth, class_names, size))
    results = ground.loadRes(coco_detections(detections))
    evaluation = COCOeval_faster(ground, results, "bbox", print_function=lambda *a, **k: None,
                                 extra_calc=True)
    evaluation.run()
    stats = evaluation.stats_as_dict
    metrics: dict[str, float | None] = {name: _valid(stats[key]) for name, key in SUMMARY.items()}
    sweep = threshold_sweep(results, len(ground.anns))
    best = int(np.argmax(sweep["f1"]))
    metrics.update({k: sweep[k][best] for k in ("precision", "recall", "f1")})
    return {"metrics": metrics,
            "details": {"class_names": list(class_names),
                        "best_threshold": sweep["thresholds"][best],
                        "per_class": _per_class(evaluation, ground, results, class_names),
                        "threshold_sweep": sweep,
                        "pr_curves": _pr_curves(evaluation, class_names)}}


def _valid(value: float) -> float | None:
    """COCO marks 'nothing to measure' as -1."""
    return None if value < 0 else float(value)


def threshold_sweep(results: Any, truth_count: int) -> dict[str, list[float]]:
    """Precision, recall and F1 over all classes of the detections scoring at least each
    threshold; a detection counts as true when COCO matched it at IoU 0.5."""
    scores = np.array([a["score"] for a in results.anns.values()], dtype=np.float64)
    hits = np.array([bool(a.get("tp")) and a.get("iou", 0.0) >= 0.5 for a in results.anns.values()],
                    dtype=bool)
    sweep: dict[str, list[float]] = {"thresholds": THRESHOLDS.tolist(), "precision": [],
                                     "recall": [], "f1": []}
    for threshold in THRESHOLDS:
        kept = scores >= threshold
        true = int(hits[kept].sum())
        precision = true / int(kept.sum()) if kept.any() else 0.0
        recall = true / truth_count if truth_count else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        for key, value in (("precision", precision), ("recall", recall), ("f1", f1)):
            sweep[key].append(round(value, 6))
    return sweep


def _per_class(evaluation: Any, ground: Any, results: Any, class_names: list[str]
               ) -> dict[str, dict[str, Any]]:
    """AP@[.5:.95], AP50, AP75 and AR@100 per class (all areas, 100 detections)."""
    precision = evaluation.eval["precision"]  # [iou, recall, class, area, max detections]
    recall = evaluation.eval["recall"]  # [iou, class, area, max detections]
    ious = evaluation.params.iouThrs
    at = {50: int(np.argmin(np.abs(ious - 0.5))), 75: int(np.argmin(np.abs(ious - 0.75)))}
    table = {}
    for k, name in enumerate(class_names):
        curve = precision[:, :, k, 0, -1]
        table[name] = {
            "ap": _mean_valid(curve), "ap50": _mean_valid(curve[at[50]]),
            "ap75": _mean_valid(curve[at[75]]), "ar100": _mean_valid(recall[:, k, 0, -1]),
            "objects": len(ground.getAnnIds(catIds=[k + 1])),
            "detections": len(results.getAnnIds(catIds=[k + 1])),
        }
    return table


def _mean_valid(values: np.ndarray) -> float | None:
    valid = values[values > -1]
    return float(valid.mean()) if valid.size else None


def _pr_curves(evaluation: Any, class_names: list[str]) -> dict[str, Any]:
    """COCO's interpolated precision at its 101 recall points, IoU 0.5, per class."""
    precision = evaluation.eval["precision"]
    iou50 = int(np.argmin(np.abs(evaluation.params.iouThrs - 0.5)))
    curves = {}
    for k, name in enumerate(class_names):
        curve = precision[iou50, :, k, 0, -1]
        if (curve > -1).any():
            curves[name] = [round(float(v), 6) for v in np.clip(curve, 0, None)]
    return {"recall": [round(float(r), 4) for r in evaluation.params.recThrs], "precision": curves}
