"""Classification: one class label per sample; the model outputs one score per class."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from heiti.core.component import Params
from heiti.core.dataset import Samples
from heiti.core.iospec import IOSpec
from heiti.core.task import DatasetInfo, Quality, Task
from heiti.errors import InputError


class ClassificationParams(Params):
    output: str | None = Field(None, description="the output holding class scores "
                               "(default: the model's only output)")


class Classification(Task):
    """Single-label classification: stratified splits, cross-entropy, accuracy first."""

    name = "classification"
    Params = ClassificationParams
    primary_metric = "accuracy"

    def split(self, truth: Any, fractions: dict[str, float], rng: np.random.Generator
              ) -> dict[str, np.ndarray]:
        """Per class, so that every split keeps the class proportions."""
        labels = np.asarray(truth)
        parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
        for label in np.unique(labels):
            index = np.flatnonzero(labels == label)
            rng.shuffle(index)
            n_test = max(1, round(len(index) * fractions["test"]))
            n_val = max(1, round(len(index) * fractions["val"]))
            if len(index) < n_test + n_val + 1:
                raise InputError(f"class {label} has only {len(index)} samples: too few to split "
                                 "into train, validation and test",
                                 hint="evaluate a trained model on every sample with "
                                      "'test: {split: all}'")
            parts["test"].append(index[:n_test])
            parts["val"].append(index[n_test : n_test + n_val])
            parts["train"].append(index[n_test + n_val :])
        splits = {}
        for name, chunks in parts.items():
            index = np.concatenate(chunks)
            splits[name] = index[rng.permutation(len(index))]
        return splits

    def check_model(self, io: IOSpec, info: DatasetInfo) -> None:
        names = {spec.name: spec for spec in io.outputs}
        scores = names[self.output_name(names, self.params.output)]
        width = scores.shape[-1] if len(scores.shape) >= 2 else None
        mismatch = width is not None and width > 0 and width != len(info.class_names)
        if mismatch or len(scores.shape) > 2:
            _refuse_reconstruction(scores.name, scores.shape, {s.name: s.shape for s in io.inputs})
        if mismatch:
            raise InputError(
                f"the model's output {scores.describe()} scores {width} classes, the dataset "
                f"'{info.name}' has {len(info.class_names)} ({', '.join(info.class_names[:12])}"
                f"{', ...' if len(info.class_names) > 12 else ''})",
                hint="use the dataset the model was trained on, or a model with one output "
                     "per class")

    def loss(self, inputs: dict[str, Any], outputs: dict[str, Any], truth: Any) -> Any:
        import torch

        scores = outputs[self.output_name(outputs, self.params.output)]
        return torch.nn.functional.cross_entropy(scores, torch.as_tensor(truth))

    def training_score(self, inputs: dict[str, Any], outputs: dict[str, Any], truth: Any) -> float:
        scores = outputs[self.output_name(outputs, self.params.output)]
        return float(np.mean(np.argmax(np.asarray(scores), axis=1) == np.asarray(truth)))

    def evaluate(self, data: Samples, outputs: dict[str, np.ndarray], info: DatasetInfo) -> Quality:
        scores = outputs[self.output_name(outputs, self.params.output)]
        metrics = classification_metrics(scores, data.truth, info.class_names)
        predictions = metrics.pop("predictions")
        scalars = {k: metrics.pop(k) for k in SCALARS}
        return self.quality(data, scalars, details=metrics,
                            predictions=[info.class_names[p] for p in predictions])

    def report_sections(self, quality: Quality, prefix: str) -> list[Any]:
        from heiti.report.content import Figure, Section, Table, num
        from heiti.report.plots import confusion_matrix as draw_confusion

        overall = Table(["accuracy", "top-5", "macro precision", "macro recall", "macro F1",
                         "G-mean"], [[num(quality.metrics[k]) for k in SCALARS[:6]]])
        per_class = Table(["class", "precision", "recall", "F1", "support"],
                          [[name, num(m["precision"]), num(m["recall"]), num(m["f1"]),
                            num(m["support"])] for name, m in quality.details["per_class"].items()])
        matrix, names = quality.details["confusion_matrix"], quality.details["class_names"]
        return [Section("Quality", [overall, per_class], [
            Figure(f"{prefix}confusion", "Confusion matrix", lambda: draw_confusion(matrix, names))])]

    def comparison_columns(self) -> list[str]:
        return ["accuracy", "macro_f1"]


def _refuse_reconstruction(output: str, shape: list[int], inputs: dict[str, list[int]]) -> None:
    """Refuse an output shaped like an input: an autoencoder's reconstruction is no class
    scores, and the scenario most likely lacks its anomaly task."""
    for name, input_shape in inputs.items():
        if len(shape) == len(input_shape) and all(
                a == b or a < 0 or b < 0 for a, b in zip(shape[1:], input_shape[1:], strict=True)):
            raise InputError(f"the model's output '{output}' has the shape of its input '{name}' "
                             f"({'x'.join('?' if d < 0 else str(d) for d in shape[1:])} per "
                             "sample), like an autoencoder's reconstruction, but the task is "
                             "classification (one score per class)",
                             hint="for anomaly detection set 'task: {type: anomaly}' in the "
                                  "scenario (docs/anomaly.md)")


SCALARS = ("accuracy", "top5_accuracy", "macro_precision", "macro_recall", "macro_f1", "g_mean")


def confusion_matrix(predicted: np.ndarray, truth: np.ndarray, num_classes: int) -> np.ndarray:
    """``matrix[t, p]`` counts samples of true class ``t`` predicted as ``p``."""
    from sklearn.metrics import confusion_matrix as sk_confusion

    return sk_confusion(truth, predicted, labels=np.arange(num_classes)).astype(np.int64)


def top_k_accuracy(scores: np.ndarray, truth: np.ndarray, k: int) -> float:
    k = min(k, scores.shape[1])
    # a stable sort resolves ties towards lower class indices, like argmax
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(top == truth[:, None], axis=1)))


def classification_metrics(scores: np.ndarray, truth: np.ndarray, class_names: list[str]
                           ) -> dict[str, Any]:
    """Accuracy, top-5, per-class and macro precision/recall/F1 (scikit-learn), G-mean."""
    from sklearn.metrics import precision_recall_fscore_support

    scores = np.asarray(scores, dtype=np.float64).reshape(len(truth), -1)
    truth = np.asarray(truth, dtype=np.int64)
    num_classes = len(class_names)
    predicted = np.argmax(scores, axis=1)
    matrix = confusion_matrix(predicted, truth, num_classes)
    precision, recall, f1, _ = precision_recall_fscore_support(
        truth, predicted, labels=np.arange(num_classes), zero_division=0.0)
    present = matrix.sum(axis=1) > 0  # classes absent from the truth do not enter the means
    g_mean = float(np.prod(recall[present]) ** (1.0 / max(int(present.sum()), 1)))
    return {
        "accuracy": float(np.mean(predicted == truth)),
        "top5_accuracy": top_k_accuracy(scores, truth, 5),
        "macro_precision": float(precision[present].mean()),
        "macro_recall": float(recall[present].mean()),
        "macro_f1": float(f1[present].mean()),
        "g_mean": g_mean,
        "class_names": list(class_names),
        "per_class": {
            name: {"precision": float(precision[i]), "recall": float(recall[i]),
                   "f1": float(f1[i]), "support": int(matrix[i].sum())}
            for i, name in enumerate(class_names)
        },
        "confusion_matrix": matrix.tolist(),
        "predictions": predicted.tolist(),
    }
