"""Classification metrics from model outputs (scores or logits) and integer labels."""

from __future__ import annotations

from typing import Any

import numpy as np


def confusion_matrix(predicted: np.ndarray, truth: np.ndarray, num_classes: int) -> np.ndarray:
    """``matrix[t, p]`` counts samples of true class ``t`` predicted as ``p``."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    return matrix


def top_k_accuracy(scores: np.ndarray, truth: np.ndarray, k: int) -> float:
    k = min(k, scores.shape[1])
    # a stable sort resolves ties towards lower class indices, like argmax
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(top == truth[:, None], axis=1)))


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0)


def classification_metrics(
    scores: np.ndarray, truth: np.ndarray, class_names: list[str]
) -> dict[str, Any]:
    scores = np.asarray(scores, dtype=np.float64).reshape(len(truth), -1)
    truth = np.asarray(truth, dtype=np.int64)
    num_classes = len(class_names)
    predicted = np.argmax(scores, axis=1)
    matrix = confusion_matrix(predicted, truth, num_classes)

    true_positive = np.diag(matrix).astype(np.float64)
    precision = _safe_divide(true_positive, matrix.sum(axis=0))
    recall = _safe_divide(true_positive, matrix.sum(axis=1))
    f1 = _safe_divide(2 * precision * recall, precision + recall)
    present = matrix.sum(axis=1) > 0  # classes absent from the truth do not enter the means
    g_mean = float(np.prod(recall[present]) ** (1.0 / max(int(present.sum()), 1)))

    return {
        "task": "classification",
        "samples": int(len(truth)),
        "accuracy": float(np.mean(predicted == truth)),
        "top5_accuracy": top_k_accuracy(scores, truth, 5),
        "macro_precision": float(precision[present].mean()),
        "macro_recall": float(recall[present].mean()),
        "macro_f1": float(f1[present].mean()),
        "g_mean": g_mean,
        "class_names": list(class_names),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(matrix[i].sum()),
            }
            for i, name in enumerate(class_names)
        },
        "confusion_matrix": matrix.tolist(),
        "predictions": predicted.tolist(),
    }
