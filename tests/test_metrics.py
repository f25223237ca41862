"""Classification metrics against values computed by hand."""

import numpy as np
import pytest

from heiti.tasks.classification import classification_metrics, confusion_matrix, top_k_accuracy

# 3 classes, 6 samples. Predictions (argmax of scores): 0, 1, 1, 2, 2, 0; truth: 0, 0, 1, 2, 2, 1
SCORES = np.array([
    [0.9, 0.05, 0.05],
    [0.2, 0.7, 0.1],
    [0.1, 0.8, 0.1],
    [0.1, 0.1, 0.8],
    [0.3, 0.1, 0.6],
    [0.5, 0.4, 0.1],
])
TRUTH = np.array([0, 0, 1, 2, 2, 1])
NAMES = ["a", "b", "c"]


def test_confusion_matrix_rows_are_truth_columns_are_predictions():
    matrix = confusion_matrix(np.array([0, 1, 1, 2, 2, 0]), TRUTH, 3)
    assert matrix.tolist() == [[1, 1, 0], [1, 1, 0], [0, 0, 2]]


def test_metrics_match_hand_computed_values():
    m = classification_metrics(SCORES, TRUTH, NAMES)
    assert m["accuracy"] == pytest.approx(4 / 6)
    # class a: TP 1, predicted twice, true twice -> P = R = F1 = 0.5; same for b; c: all 1.0
    assert m["per_class"]["a"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert m["per_class"]["c"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}
    assert m["macro_f1"] == pytest.approx(2 / 3)
    assert m["g_mean"] == pytest.approx((0.5 * 0.5 * 1.0) ** (1 / 3))
    assert m["predictions"] == [0, 1, 1, 2, 2, 0]


def test_top_k_counts_truth_among_the_k_best_scores():
    # top-2: sample 1 (truth 0) has scores 0.2/0.7/0.1 -> classes 1, 0: hit; sample 5 (truth 1)
    # has 0.5/0.4/0.1 -> classes 0, 1: hit; every sample is a hit at k=2
    assert top_k_accuracy(SCORES, TRUTH, 1) == pytest.approx(4 / 6)
    assert top_k_accuracy(SCORES, TRUTH, 2) == 1.0
    assert top_k_accuracy(SCORES, TRUTH, 5) == 1.0  # k larger than the class count


def test_classes_without_support_do_not_enter_means_or_divide_by_zero():
    m = classification_metrics(np.eye(3)[[0, 0, 1]], np.array([0, 0, 1]), NAMES)
    assert m["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert m["macro_recall"] == 1.0 and m["g_mean"] == 1.0


def test_g_mean_is_zero_when_a_class_is_never_recognised():
    m = classification_metrics(np.eye(3)[[0, 0, 0]], np.array([0, 1, 2]), NAMES)
    assert m["g_mean"] == 0.0
