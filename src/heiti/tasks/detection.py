"""Object detection: the truth per image is a variable number of boxes with classes."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from heiti.core.component import Params
from heiti.core.dataset import Samples
from heiti.core.iospec import IOSpec
from heiti.core.task import DatasetInfo, Quality, Task
from heiti.errors import InputError

DETECTIONS = ("boxes", "scores", "labels")
TRAINING_OUTPUTS = ("heatmap", "ltrb")


class DetectionParams(Params):
    examples: int = Field(12, ge=0, description="test images drawn in the examples figure")
    decision_threshold: float = Field(0.3, ge=0, le=1, description="score from which a box "
                                      "counts as detected: drawn in the examples figure, compared "
                                      "by heiti matrix's agreement")


class Detection(Task):
    """Boxes and classes per image, scored with COCO metrics (faster-coco-eval); the primary
    metric is mAP at IoU 0.5.

    Truth per image: ``{"boxes": (n, 4) x1 y1 x2 y2 in input pixels, "labels": (n,)}``.
    The model's (post-processed) outputs are ``boxes``, ``scores`` and ``labels``, one
    array per image. Training a zoo detector uses the centre-heatmap loss on its raw
    ``heatmap`` and ``ltrb`` outputs (heiti.frameworks.center_loss)."""

    name = "detection"
    Params = DetectionParams
    primary_metric = "map50"
    requires = ("faster_coco_eval",)
    extra = "detection"

    def check_model(self, io: IOSpec, info: DatasetInfo) -> None:
        names = [spec.name for spec in io.outputs]
        if io.postprocess is None and not set(DETECTIONS) <= set(names):
            raise InputError(f"the model's outputs ({', '.join(names)}) are not detections: the "
                             "detection task reads boxes, scores and labels per image",
                             hint="use a detector whose post-processing decodes its outputs into "
                                  "boxes (e.g. the zoo's center-detector)")
        if io.class_names and len(io.class_names) != len(info.class_names):
            raise InputError(f"the model detects {len(io.class_names)} categories "
                             f"({', '.join(io.class_names)}), the dataset '{info.name}' has "
                             f"{len(info.class_names)} ({', '.join(info.class_names)})",
                             hint="use the dataset the model was trained on")

    def loss(self, inputs: dict[str, Any], outputs: dict[str, Any], truth: Any) -> Any:
        from heiti.frameworks.center_loss import center_loss

        missing = [name for name in TRAINING_OUTPUTS if name not in outputs]
        if missing:
            raise InputError(f"the detection task trains centre-heatmap detectors with outputs "
                             f"{' and '.join(TRAINING_OUTPUTS)}; the model has {', '.join(outputs)}",
                             hint="train the model elsewhere and load it as a file")
        image = next(iter(inputs.values()))
        return center_loss(outputs["heatmap"], outputs["ltrb"], truth, tuple(image.shape[-2:]))

    def evaluate(self, data: Samples, outputs: dict[str, Any], info: DatasetInfo) -> Quality:
        from heiti.evaluation.coco import detection_metrics

        detections = self._detections(outputs, len(data), len(info.class_names))
        image = next(iter(data.inputs.values()))
        result = detection_metrics(data.truth, _per_image(detections), info.class_names,
                                   tuple(image.shape[-2:]))
        # every digit kept: metrics recomputed from predictions.csv equal the ones reported
        predictions = [{"boxes": b.astype(np.float64).tolist(),
                        "scores": s.astype(np.float64).tolist(),
                        "labels": [info.class_names[int(k)] for k in labels]}
                       for b, s, labels in zip(*(detections[k] for k in DETECTIONS), strict=True)]
        return self.quality(data, result["metrics"], details=result["details"],
                            predictions=predictions)

    @staticmethod
    def _detections(outputs: dict[str, Any], count: int, classes: int) -> dict[str, list[np.ndarray]]:
        missing = [name for name in DETECTIONS if name not in outputs]
        if missing:
            raise InputError(f"the model's outputs after post-processing ({', '.join(outputs)}) "
                             f"lack {', '.join(missing)}, which the detection task reads")
        found = {k: [np.asarray(v) for v in outputs[k]] for k in DETECTIONS}
        if any(len(v) != count for v in found.values()):
            raise InputError(f"the model gave detections for {len(found['boxes'])} images, "
                             f"the test has {count}")
        for labels in found["labels"]:
            if labels.size and (labels.min() < 0 or labels.max() >= classes):
                raise InputError(f"the model detects category {int(labels.max())}, the dataset has "
                                 f"{classes} categories")
        return found

    def examples_figure(self, data: Samples, outputs: dict[str, Any], info: DatasetInfo
                        ) -> bytes | None:
        from heiti.evaluation.detection_figures import examples_grid

        count = min(self.params.examples, len(data))
        if count == 0:
            return None
        shown = {k: outputs[k][:count] for k in DETECTIONS}
        image = next(iter(data.inputs.values()))
        return examples_grid(image[:count], data.truth[:count], shown, info.class_names,
                             self.params.decision_threshold)

    def report_sections(self, quality: Quality, prefix: str) -> list[Any]:
        from heiti.evaluation import detection_figures as figures
        from heiti.report.content import Figure, Section, Table, num

        m, details = quality.metrics, quality.details
        overall = Table(["mAP@0.5 (primary)", "mAP@[.5:.95]", "AP75", "AR@1", "AR@10", "AR@100",
                         "precision", "recall", "F1"],
                        [[num(m[k]) for k in ("map50", "map", "map75", "mar1", "mar10", "mar100",
                                              "precision", "recall", "f1")]])
        per_class = Table(["class", "AP@[.5:.95]", "AP50", "AP75", "AR@100", "objects", "detections"],
                          [[name, *(num(c[k]) for k in ("ap", "ap50", "ap75", "ar100", "objects",
                                                         "detections"))]
                           for name, c in details["per_class"].items()])
        sweep, best = details["threshold_sweep"], details["best_threshold"]
        thresholds = Table(["score threshold", "precision", "recall", "F1"],
                           [[f"{t:.2f}", num(p), num(r), num(f)] for t, p, r, f in zip(
                               sweep["thresholds"], sweep["precision"], sweep["recall"], sweep["f1"],
                               strict=True)])
        notes = [f"COCO metrics (faster-coco-eval): AP averaged over IoU 0.50:0.95 and at 0.50 and "
                 f"0.75, AR with at most 1, 10 and 100 detections per image. Precision, recall and F1 "
                 f"count a detection as true when it matches an object at IoU 0.5; the first table "
                 f"gives them at the score threshold of best F1 ({best:.2f})."]
        return [Section("Detection quality", [overall, per_class, thresholds], [
            Figure(f"{prefix}pr-curves", "Precision-recall per class at IoU 0.5",
                   lambda: figures.pr_curves(details["pr_curves"])),
            Figure(f"{prefix}thresholds", "Precision, recall and F1 against the score threshold",
                   lambda: figures.threshold_sweep(sweep, best)),
        ], notes=notes)]

    def comparison_columns(self) -> list[str]:
        return ["map50", "map", "f1"]

    def same_prediction(self, a: Any, b: Any) -> bool:
        """The same objects detected: boxes scoring at least ``decision_threshold`` pair up
        one to one by class at IoU 0.5 (scores of two runs never match exactly)."""
        from heiti.evaluation.boxes import box_iou

        boxes_a, labels_a = _decided(a, self.params.decision_threshold)
        boxes_b, labels_b = _decided(b, self.params.decision_threshold)
        if sorted(labels_a) != sorted(labels_b):
            return False
        pairs = (box_iou(boxes_a[:, None], boxes_b[None]) >= 0.5) & (labels_a[:, None] == labels_b[None])
        return bool(pairs.any(axis=1).all() and pairs.any(axis=0).all())


def _decided(prediction: dict[str, Any], threshold: float) -> tuple[np.ndarray, np.ndarray]:
    kept = np.asarray(prediction["scores"]) >= threshold
    return (np.asarray(prediction["boxes"], dtype=np.float64).reshape(-1, 4)[kept],
            np.asarray(prediction["labels"], dtype=object)[kept])


def _per_image(detections: dict[str, list[np.ndarray]]) -> list[dict[str, np.ndarray]]:
    return [dict(zip(DETECTIONS, values, strict=True))
            for values in zip(*(detections[k] for k in DETECTIONS), strict=True)]
