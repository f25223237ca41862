"""Anomaly detection: is a window normal (truth 0) or anomalous (1)?

The model is trained to reconstruct normal windows only; the task scores each window by
its reconstruction error (so it reads the inputs as well as the outputs) and measures
how well that score separates anomalous from normal windows, without fixing a
threshold first: ROC AUC (primary), PR AUC, the threshold with the best F1, and a sweep.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from heiti.core.component import Params
from heiti.core.dataset import Samples
from heiti.core.iospec import IOSpec
from heiti.core.task import DatasetInfo, Quality, Task
from heiti.errors import InputError

SWEEP_STEPS = 20  # thresholds in the sweep table: score quantiles, evenly spaced
CURVE_POINTS = 200  # ROC points kept in the measurements file
HISTOGRAM_BINS = 40


class AnomalyParams(Params):
    output: str | None = Field(None, description="the output holding the reconstruction "
                               "(default: the model's only output)")
    input: str | None = Field(None, description="the input it reconstructs (default: the only one)")
    score: Literal["mse", "mae"] = Field("mse", description="anomaly score of a window: mean "
                                         "squared or mean absolute reconstruction error")
    threshold: float | None = Field(None, ge=0, description="score from which a window is flagged "
                                    "anomalous (default: the best-F1 threshold on the evaluated "
                                    "windows, which is optimistic; fix it for deployment)")


class Anomaly(Task):
    """Anomaly detection by reconstruction: train on normal windows only, score every window
    by its reconstruction error, ROC AUC first."""

    name = "anomaly"
    Params = AnomalyParams
    primary_metric = "roc_auc"

    def split(self, truth: Any, fractions: dict[str, float], rng: np.random.Generator
              ) -> dict[str, np.ndarray]:
        """Normal windows split by the fractions; every anomalous window goes to validation
        or test (in the ratio of their fractions), so that training sees normal ones only."""
        labels = _labels(truth)
        normal, anomalous = np.flatnonzero(labels == 0), np.flatnonzero(labels == 1)
        rng.shuffle(normal)
        rng.shuffle(anomalous)
        n_test = max(1, round(len(normal) * fractions["test"]))
        n_val = max(1, round(len(normal) * fractions["val"]))
        if len(normal) < n_test + n_val + 1:
            raise InputError(f"{len(normal)} normal windows are too few to split into train, "
                             "validation and test", hint="evaluate a trained model on every "
                             "window with 'test: {split: all}'")
        a_test = round(len(anomalous) * fractions["test"] / (fractions["test"] + fractions["val"]))
        parts = {"test": [normal[:n_test], anomalous[:a_test]],
                 "val": [normal[n_test : n_test + n_val], anomalous[a_test:]],
                 "train": [normal[n_test + n_val :]]}
        return {name: rng.permutation(np.concatenate(chunks)) for name, chunks in parts.items()}

    def check_model(self, io: IOSpec, info: DatasetInfo) -> None:
        outputs = {spec.name: spec for spec in io.outputs}
        inputs = {spec.name: spec for spec in io.inputs}
        out = outputs[self.output_name(outputs, self.params.output)]
        inp = inputs[_input_name(inputs, self.params.input)]
        if len(out.shape) != len(inp.shape) or any(
                a > 0 and b > 0 and a != b for a, b in zip(out.shape[1:], inp.shape[1:], strict=False)):
            raise InputError(f"the model's output {out.describe()} cannot be a reconstruction of "
                             f"its input {inp.describe()}: the shapes differ",
                             hint="anomaly detection needs an autoencoder whose output has the "
                                  "shape of its input")

    def scores(self, inputs: dict[str, Any], outputs: dict[str, Any]) -> Any:
        """One anomaly score per window (torch tensors or NumPy arrays alike)."""
        original = inputs[_input_name(inputs, self.params.input)]
        error = outputs[self.output_name(outputs, self.params.output)].reshape(original.shape) - original
        error = error**2 if self.params.score == "mse" else abs(error)
        return error.reshape(len(original), -1).mean(1)

    def loss(self, inputs: dict[str, Any], outputs: dict[str, Any], truth: Any) -> Any:
        # the training split holds normal windows only; validation batches hold both kinds
        return self.scores(inputs, outputs).mean()

    def training_score(self, inputs: dict[str, Any], outputs: dict[str, Any], truth: Any
                       ) -> float | None:
        """ROC AUC on the validation windows (None when they hold one kind only)."""
        return _roc_auc(_labels(truth), np.asarray(self.scores(inputs, outputs), dtype=np.float64))

    def evaluate(self, data: Samples, outputs: dict[str, np.ndarray], info: DatasetInfo) -> Quality:
        inputs = {k: np.asarray(v, dtype=np.float64) for k, v in data.inputs.items()}
        real = {k: np.asarray(v, dtype=np.float64) for k, v in outputs.items()}
        scores = self.scores(inputs, real)
        metrics, details = anomaly_metrics(_labels(data.truth), scores, self.params.threshold)
        details["score"] = self.params.score
        threshold = metrics["threshold"]
        flags = scores >= threshold if threshold is not None else np.zeros(len(scores), dtype=bool)
        predictions = [{"score": float(s), "anomalous": bool(f)} for s, f in zip(scores, flags, strict=True)]
        return self.quality(data, metrics, details=details, predictions=predictions)

    def report_sections(self, quality: Quality, prefix: str) -> list[Any]:
        from heiti.report.content import Figure, Section, Table, num

        m, details = quality.metrics, quality.details
        counts = details["counts"]
        overall = Table(["ROC AUC", "PR AUC", "best F1", "at threshold", "precision", "recall"],
                        [[num(m["roc_auc"]), num(m["pr_auc"]), num(m["best_f1"]),
                          num(m["best_f1_threshold"], 6), num(m["best_f1_precision"]),
                          num(m["best_f1_recall"])]])
        operating = Table(["flag threshold", "precision", "recall", "F1", "false-positive rate",
                           "normal windows", "anomalous windows"],
                          [[f"{num(m['threshold'], 6)} ({details['threshold_source']})",
                            num(m["precision"]), num(m["recall"]), num(m["f1"]),
                            num(m["false_positive_rate"]), num(counts["normal"]),
                            num(counts["anomalous"])]])
        sweep = Table(["threshold", "precision", "recall", "false-positive rate"],
                      [[num(row["threshold"], 6), num(row["precision"]), num(row["recall"]),
                        num(row["false_positive_rate"])] for row in details["sweep"]])
        figures = [Figure(f"{prefix}roc", "ROC curve", lambda: draw_roc(details)),
                   Figure(f"{prefix}scores", "Anomaly scores of normal and anomalous windows",
                          lambda: draw_histograms(details, m["threshold"]))]
        notes = [f"Score: {details['score']} reconstruction error per window; PR AUC is the "
                 "average precision. The sweep's thresholds are quantiles of the scores."]
        return [Section("Anomaly detection", [overall, operating, sweep], figures, notes)]

    def comparison_columns(self) -> list[str]:
        return ["roc_auc", "pr_auc", "best_f1"]

    def same_prediction(self, a: Any, b: Any) -> bool:
        return a["anomalous"] == b["anomalous"]  # scores of two runs never match exactly

    def examples_figure(self, data: Samples, outputs: dict[str, np.ndarray], info: DatasetInfo
                        ) -> bytes | None:
        original = data.inputs[_input_name(data.inputs, self.params.input)]
        if original.ndim not in (2, 3):
            return None
        reconstruction = outputs[self.output_name(outputs, self.params.output)]
        return draw_examples(original, reconstruction.reshape(original.shape), _labels(data.truth),
                             data.ids)


def _input_name(inputs: dict[str, Any], wanted: str | None) -> str:
    """The input that the reconstruction is compared with."""
    if wanted is None and len(inputs) == 1:
        return next(iter(inputs))
    if wanted not in inputs:
        raise InputError(f"the task's input {wanted!r} is not among the inputs ({', '.join(inputs)})",
                         hint="set the anomaly task's 'input' parameter to the input the model "
                              "reconstructs")
    return wanted


def _labels(truth: Any) -> np.ndarray:
    labels = np.asarray(truth).reshape(-1)
    if labels.size and not np.isin(labels, (0, 1)).all():
        raise InputError("anomaly detection needs truth 0 (normal) or 1 (anomalous) per window, "
                         f"got values {sorted(set(np.unique(labels).tolist()) - {0, 1})[:5]}")
    return labels.astype(np.int64)


def _roc_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores)) if len(np.unique(labels)) == 2 else None


def anomaly_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float | None = None
                    ) -> tuple[dict[str, float | None], dict[str, Any]]:
    """Scalar metrics and details (curves, sweep, histograms) of ``scores`` against
    ``labels`` (1 = anomalous), with scikit-learn. Without both kinds of window the
    ranking metrics are None."""
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_curve

    both = len(np.unique(labels)) == 2
    metrics: dict[str, float | None] = dict.fromkeys(
        ("roc_auc", "pr_auc", "best_f1", "best_f1_threshold", "best_f1_precision",
         "best_f1_recall"))
    details: dict[str, Any] = {"counts": {"normal": int((labels == 0).sum()),
                                          "anomalous": int((labels == 1).sum())},
                               "roc": None}
    if both:
        precision, recall, thresholds = precision_recall_curve(labels, scores)
        f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
        best = int(np.argmax(f1[:-1]))  # the last point (recall 0) has no threshold
        fpr, tpr, _ = roc_curve(labels, scores)
        keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), CURVE_POINTS)).round().astype(int))
        metrics.update(roc_auc=_roc_auc(labels, scores),
                       pr_auc=float(average_precision_score(labels, scores)),
                       best_f1=float(f1[best]), best_f1_threshold=float(thresholds[best]),
                       best_f1_precision=float(precision[best]), best_f1_recall=float(recall[best]))
        details["roc"] = {"fpr": fpr[keep].tolist(), "tpr": tpr[keep].tolist()}
    chosen = threshold if threshold is not None else metrics["best_f1_threshold"]
    details["threshold_source"] = "parameter" if threshold is not None else "best F1"
    metrics.update(threshold=chosen, **_at_threshold(labels, scores, chosen))
    levels = np.quantile(scores, np.linspace(0, 1, SWEEP_STEPS + 1)[1:-1]) if len(scores) else []
    details["sweep"] = [{"threshold": float(t), **_at_threshold(labels, scores, float(t))}
                        for t in levels]
    details["histogram"] = _histograms(labels, scores)
    return metrics, details


def _histograms(labels: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """Score counts of each kind of window in shared bins, log-spaced when the scores span
    decades (anomalous errors are often orders of magnitude above normal ones)."""
    low, high = (float(scores.min()), float(scores.max())) if len(scores) else (0.0, 1.0)
    log = low > 0 and high / low > 20
    edges = (np.geomspace(low, high, HISTOGRAM_BINS + 1) if log
             else np.histogram_bin_edges(scores, bins=HISTOGRAM_BINS, range=(low, high)))
    return {"edges": edges.tolist(), "log": log,
            "normal": np.histogram(scores[labels == 0], edges)[0].tolist(),
            "anomalous": np.histogram(scores[labels == 1], edges)[0].tolist()}


def _at_threshold(labels: np.ndarray, scores: np.ndarray, threshold: float | None
                  ) -> dict[str, float | None]:
    """Precision, recall, F1 and false-positive rate when windows scoring at least
    ``threshold`` are flagged."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    if threshold is None:
        return dict.fromkeys(("precision", "recall", "f1", "false_positive_rate"))
    flagged = (scores >= threshold).astype(np.int64)
    precision, recall, f1, _ = precision_recall_fscore_support(
        labels, flagged, labels=[1], average="binary", pos_label=1, zero_division=0.0)
    tn, fp, _, _ = confusion_matrix(labels, flagged, labels=[0, 1]).ravel()
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1),
            "false_positive_rate": float(fp / (fp + tn)) if fp + tn else None}


def draw_roc(details: dict[str, Any]) -> bytes:
    from heiti.report.plots import _figure, _png

    fig, ax = _figure(4.6, 4.2)
    roc = details["roc"]
    if roc is not None:
        ax.plot(roc["fpr"], roc["tpr"], color="tab:blue", label="model")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    ax.set(xlabel="false-positive rate", ylabel="true-positive rate (recall)", xlim=(0, 1),
           ylim=(0, 1.01), title="ROC curve")
    ax.legend(loc="lower right")
    return _png(fig)


def draw_histograms(details: dict[str, Any], threshold: float | None) -> bytes:
    from heiti.report.plots import _figure, _png

    fig, ax = _figure()
    histogram = details["histogram"]
    edges = np.asarray(histogram["edges"])
    for kind, color in (("normal", "tab:blue"), ("anomalous", "tab:red")):
        ax.stairs(histogram[kind], edges, fill=True, alpha=0.5, color=color,
                  label=f"{kind} ({sum(histogram[kind])})")
    if threshold is not None:
        ax.axvline(threshold, color="black", linestyle="--", label="flag threshold")
    if histogram["log"]:
        ax.set_xscale("log")
    ax.set(xlabel=f"anomaly score ({details.get('score', 'reconstruction error')})",
           ylabel="windows", title="Score distribution")
    ax.legend()
    return _png(fig)


def draw_examples(original: np.ndarray, reconstruction: np.ndarray, labels: np.ndarray,
                  ids: list[str] | None, per_kind: int = 3) -> bytes:
    """The first windows of each kind: every channel and its reconstruction (dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from heiti.report.plots import _png

    picked = [i for kind in (0, 1) for i in np.flatnonzero(labels == kind)[:per_kind]]
    fig, axes = plt.subplots(max(len(picked), 1), 1, figsize=(9, 1.4 * max(len(picked), 1)),
                             dpi=110, sharex=True, squeeze=False)
    axes = axes[:, 0]
    for ax, i in zip(axes, picked, strict=False):
        window = original[i].reshape(-1, original.shape[-1])
        rebuilt = reconstruction[i].reshape(window.shape)
        for c, (signal, estimate) in enumerate(zip(window, rebuilt, strict=True)):
            ax.plot(signal, color=f"C{c}", linewidth=0.9)
            ax.plot(estimate, color=f"C{c}", linewidth=0.9, linestyle="--")
        kind = "anomalous" if labels[i] else "normal"
        ax.set_ylabel(kind if ids is None else f"{ids[i]}\n({kind})", fontsize=7)
        ax.tick_params(labelsize=7)
    axes[0].set_title("Windows (solid) and reconstructions (dashed)")
    return _png(fig)
