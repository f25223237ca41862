"""Anomaly detection: the task's metrics and split, the sensor-windows generator, the
csv-windows loader, and a small end-to-end run through the CLI with its report."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli, write_scenario
from heiti.core.dataset import Samples
from heiti.core.iospec import IOSpec, TensorSpec
from heiti.core.task import DatasetInfo
from heiti.datasets.csv_windows import CsvWindows
from heiti.datasets.sensor_windows import SensorWindows
from heiti.errors import InputError
from heiti.tasks.anomaly import Anomaly

INFO = DatasetInfo(name="hand")
# Six windows whose MSE reconstruction errors are exactly SCORES (worked out by hand below)
LABELS = np.array([0, 0, 0, 0, 1, 1])
SCORES = np.array([0.1, 0.2, 0.3, 0.6, 0.5, 0.9])


def evaluate(threshold: float | None = None, labels: np.ndarray = LABELS):
    inputs = np.zeros((len(labels), 2, 4), dtype=np.float32)
    outputs = np.sqrt(SCORES[: len(labels)])[:, None, None] * np.ones((1, 2, 4))
    data = Samples({"input": inputs}, labels)
    return Anomaly({"threshold": threshold}).evaluate(data, {"reconstruction": outputs}, INFO)


def test_metrics_match_hand_checked_values():
    quality = evaluate()
    m = quality.metrics
    # ROC AUC: of the 8 (anomalous, normal) pairs, only 0.5 < 0.6 is misordered -> 7/8
    assert m["roc_auc"] == pytest.approx(0.875)
    # average precision: ranks 0.9 (P=1, R=.5), 0.6, 0.5 (P=2/3, R=1) -> .5*1 + .5*2/3
    assert m["pr_auc"] == pytest.approx(0.5 + 1 / 3)
    # best F1 flags scores >= 0.5: precision 2/3, recall 1, F1 0.8; one normal of 4 flagged
    assert (m["best_f1"], m["best_f1_threshold"]) == (pytest.approx(0.8), pytest.approx(0.5))
    assert (m["best_f1_precision"], m["best_f1_recall"]) == (pytest.approx(2 / 3), 1.0)
    assert m["threshold"] == pytest.approx(0.5) and m["false_positive_rate"] == 0.25
    assert [p["anomalous"] for p in quality.predictions] == [False, False, False, True, True, True]
    assert quality.predictions[5]["score"] == pytest.approx(0.9)
    assert quality.primary_metric == "roc_auc" and quality.primary == m["roc_auc"]
    # a fixed threshold: 0.6 and 0.9 flagged -> precision 1/2, recall 1/2, FPR 1/4
    fixed = evaluate(threshold=0.55).metrics
    assert (fixed["precision"], fixed["recall"], fixed["false_positive_rate"]) == (0.5, 0.5, 0.25)
    sweep = quality.details["sweep"]
    assert [row["threshold"] for row in sweep] == sorted(row["threshold"] for row in sweep)
    assert sweep[0]["recall"] == 1.0 and sweep[-1]["false_positive_rate"] == 0.0
    histogram = quality.details["histogram"]
    assert (sum(histogram["normal"]), sum(histogram["anomalous"])) == (4, 2)


def test_runs_agree_on_a_window_when_they_flag_it_alike():
    # heiti matrix counts agreement per window; scores of two runs never match exactly
    task = Anomaly()
    assert task.same_prediction({"score": 0.1, "anomalous": True}, {"score": 0.2, "anomalous": True})
    assert not task.same_prediction({"score": 0.1, "anomalous": False}, {"score": 0.1, "anomalous": True})


def test_metrics_of_normal_windows_only_are_none_not_an_error():
    m = evaluate(labels=np.zeros(4, dtype=np.int64)).metrics
    assert m["roc_auc"] is None and m["best_f1"] is None and m["threshold"] is None


def test_task_refuses_a_model_that_does_not_reconstruct_its_input():
    io = IOSpec(inputs=[TensorSpec(name="input", shape=[-1, 3, 64])],
                outputs=[TensorSpec(name="logits", shape=[-1, 10])])
    with pytest.raises(InputError, match="cannot be a reconstruction"):
        Anomaly().check_model(io, INFO)
    with pytest.raises(InputError, match="input 'vibration' is not among the inputs"):
        Anomaly({"input": "vibration"}).check_model(io, INFO)


def test_split_keeps_anomalies_out_of_training():
    dataset = SensorWindows({"windows": 400, "length": 32, "anomaly_fraction": 0.2})
    splits = {name: dataset.split(name) for name in ("train", "val", "test")}
    assert splits["train"].truth.sum() == 0
    assert all(set(splits[name].truth.tolist()) == {0, 1} for name in ("val", "test"))
    ids = [i for name in ("train", "val", "test") for i in splits[name].ids]
    assert sorted(ids) == sorted(dataset.split("all").ids)  # each window exactly once
    assert sum(splits[n].truth.sum() for n in ("val", "test")) == 80  # every anomaly used
    assert dataset.split("calibration").truth.sum() == 0


def test_generator_is_deterministic_and_injects_every_kind():
    def windows(seed: int) -> Samples:
        return SensorWindows({"windows": 200, "channels": 2, "length": 64, "seed": seed}).split("all")

    first, again, other = windows(3), windows(3), windows(4)
    assert first.x.shape == (200, 2, 64) and first.x.dtype == np.float32
    np.testing.assert_array_equal(first.x, again.x)
    assert first.ids == again.ids and not np.array_equal(first.x, other.x)
    kinds = {i.split("-")[1] for i, t in zip(first.ids, first.truth, strict=True) if t}
    assert kinds == {"spike", "drift", "frequency", "dropout"}
    dropped = [k for k, i in enumerate(first.ids) if i.endswith("dropout")]
    # a dropped channel reads zero from between a quarter and half of the window to its end
    assert dropped and all((first.x[k][:, 32:] == 0).all(axis=1).any() for k in dropped)


def write_csv(path: Path, rows: list[list[object]], header: str = "window,label,ax,ay") -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        handle.write(header + "\n")
        csv.writer(handle).writerows(rows)
    return path


def good_rows() -> list[list[object]]:
    """Six windows of three time steps and two channels; w4 and w5 anomalous."""
    return [[f"w{w}", "anomalous" if w >= 4 else ("normal" if w % 2 else 0), w + t / 10, -w]
            for w in range(6) for t in range(3)]


def test_csv_windows_reads_windows_channels_first(tmp_path):
    write_csv(tmp_path / "windows.csv", good_rows())
    dataset = CsvWindows({"path": "windows.csv", "val_fraction": 0.25, "test_fraction": 0.25},
                         base_dir=tmp_path)
    everything = dataset.split("all")
    assert everything.x.shape == (6, 2, 3) and everything.ids == [f"w{w}" for w in range(6)]
    np.testing.assert_allclose(everything.x[2], [[2.0, 2.1, 2.2], [-2, -2, -2]])
    assert everything.truth.tolist() == [0, 0, 0, 0, 1, 1]
    assert dataset.split("train").truth.sum() == 0 and dataset.task.name == "anomaly"


BAD_CSV = {
    "not a number": (lambda r: r.__setitem__(4, ["w1", 0, "1.2.3", 0]), 6, "column 'ax' holds '1.2.3'"),
    "short row": (lambda r: r.__setitem__(7, ["w2", 0, 1.0]), 9, "3 fields, the header has 4"),
    "unknown label": (lambda r: r.__setitem__(0, ["w0", "broken", 0, 0]), 2, "label 'broken'"),
    "label changes": (lambda r: r.__setitem__(1, ["w0", 1, 0, 0]), 3, "changes its label"),
    "window split": (lambda r: r.append(["w0", 0, 0, 0]), 20, "must be consecutive"),
    "uneven window": (lambda r: r.pop(5), 5, "window 'w1' has 2 rows"),
}


@pytest.mark.parametrize("case", list(BAD_CSV))
def test_malformed_csv_names_file_and_line(tmp_path, case):
    edit, line, message = BAD_CSV[case]
    rows = good_rows()
    edit(rows)
    path = write_csv(tmp_path / "bad.csv", rows)
    with pytest.raises(InputError) as error:
        CsvWindows({"path": str(path)}).split("all")
    assert f"bad.csv, line {line}:" in error.value.message and message in error.value.message


def test_csv_header_and_empty_file_are_refused(tmp_path):
    path = write_csv(tmp_path / "h.csv", good_rows(), header="id,label,ax,ay")
    with pytest.raises(InputError, match=r"h.csv, line 1: the header lacks the column\(s\) window"):
        CsvWindows({"path": str(path)}).split("all")
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="line 1: the file is empty"):
        CsvWindows({"path": str(tmp_path / "empty.csv")}).split("all")


def scenario(name: str, dataset: dict, **model: object) -> dict:
    return {"name": name, "build_dir": f"b/{name}", "dataset": dataset,
            "model": {"type": "autoencoder", "parameters": model, "path": f"m/{name}.pt",
                      "train": {"epochs": 15, "lr": 0.01, "batch_size": 16, "patience": None}},
            "optimizers": [{"type": "onnx-export"}], "runtime": {"type": "onnxruntime"},
            "test": {"warmup": 1}}


def test_malformed_csv_through_the_cli_exits_2(tmp_path, capsys):
    rows = good_rows()
    BAD_CSV["not a number"][0](rows)
    write_csv(tmp_path / "bad.csv", rows)
    path = write_scenario(tmp_path, scenario("c", {"type": "csv-windows",
                                                  "parameters": {"path": "bad.csv"}}))
    assert run_cli("test", path) == 2
    assert "bad.csv, line 6: column 'ax'" in capsys.readouterr().err


def test_end_to_end_run_reports_the_anomaly_section(tmp_path):
    data = {"type": "sensor-windows",
            "parameters": {"windows": 400, "channels": 2, "length": 32, "anomaly_fraction": 0.2}}
    dense = scenario("dense", data, variant="dense", hidden=[64], latent=8)
    conv = scenario("conv", data, variant="conv", hidden=[8, 8], latent=8)
    conv["optimizers"].append({"type": "ort-quantize", "parameters": {"calibration_samples": 50}})
    conv["report"] = {"enabled": False}  # the comparison shows it; one run's report suffices
    paths = [write_scenario(tmp_path, s, f"{s['name']}.yml") for s in (dense, conv)]
    assert run_cli("run", *paths, "--compare", tmp_path / "cmp") == 0
    for name in ("dense", "conv"):
        build = tmp_path / "b" / name
        document = json.loads((build / "measurements.json").read_text(encoding="utf-8"))
        quality = document["quality"]
        assert quality["task"] == "anomaly" and quality["primary_metric"] == "roc_auc"
        assert quality["metrics"]["roc_auc"] > 0.8  # a few seconds of training separate most faults
        assert len(quality["predictions"]) == document["dataset"]["samples"]
        with (build / "predictions.csv").open(encoding="utf-8") as handle:
            first = next(csv.DictReader(handle))
        assert set(json.loads(first["prediction"])) == {"score", "anomalous"}
        assert (build / "examples.png").stat().st_size > 1000
    report = (tmp_path / "b" / "dense" / "report" / "report.md").read_text(encoding="utf-8")
    assert "## Anomaly detection" in report and "false-positive rate" in report
    for figure in ("roc.png", "scores.png", "examples.png"):
        assert (tmp_path / "b" / "dense" / "report" / figure).read_bytes().startswith(b"\x89PNG")
    comparison = (tmp_path / "cmp" / "report.md").read_text(encoding="utf-8")
    assert "roc_auc" in comparison and "pr_auc" in comparison
    assert "## conv: Anomaly detection" in comparison


def test_a_header_of_hundreds_of_columns_is_summed_up_with_the_layout_hint(tmp_path, capsys):
    # a user's file: one window per row, a label and 768 time steps, read as time steps
    header = ",".join(["label", *(f"t{i}" for i in range(768))])
    write_csv(tmp_path / "wide.csv", [[0, *range(768)], [1, *range(768)]], header=header)
    path = write_scenario(tmp_path, scenario("w", {"type": "csv-windows",
                                                  "parameters": {"path": "wide.csv"}}))
    assert run_cli("test", path) == 2
    err = capsys.readouterr().err
    assert "wide.csv, line 1: the header lacks the column(s) window (769 columns: label, t0, " in err
    assert "t8, ..., t766, t767); if each row holds a whole window, set 'rows: windows'" in err
    assert "t100" not in err and len(err) < 1000


def test_csv_windows_reads_one_window_per_row(tmp_path):
    rows = [[f"p{w}", "anomalous" if w == 5 else "normal", *(w + t / 10 for t in range(4))]
            for w in range(6)]
    write_csv(tmp_path / "wide.csv", rows, header="window,label,t0,t1,t2,t3")
    windows = CsvWindows({"path": "wide.csv", "rows": "windows"}, base_dir=tmp_path).split("all")
    assert windows.x.shape == (6, 1, 4) and windows.ids == [f"p{w}" for w in range(6)]
    np.testing.assert_allclose(windows.x[2, 0], [2.0, 2.1, 2.2, 2.3])
    assert windows.truth.tolist() == [0, 0, 0, 0, 0, 1]
    # without an id column a window is named by its line; 'channels' picks time-step columns
    write_csv(tmp_path / "bare.csv", [r[1:] for r in rows], header="label,t0,t1,t2,t3")
    bare = CsvWindows({"path": "bare.csv", "rows": "windows", "channels": ["t1", "t3"]},
                      base_dir=tmp_path).split("all")
    assert bare.ids[:2] == ["line 2", "line 3"] and bare.x[2, 0].tolist() == pytest.approx([2.1, 2.3])


def test_a_utf8_file_with_a_byte_order_mark_is_read(tmp_path):
    # Excel's "CSV UTF-8" starts with a byte-order mark, which used to hide the first column
    path = write_csv(tmp_path / "excel.csv", good_rows())
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    windows = CsvWindows({"path": str(path)}).split("all")
    assert windows.x.shape == (6, 2, 3) and windows.ids[0] == "w0"


def split_rows() -> list[list[object]]:
    """good_rows with a split column: w0-w2 train, w3 and w4 val, w5 test."""
    splits = ["train", "train", "train", "Val", "validation", "test"]
    return [[*row, splits[int(str(row[0])[1])]] for row in good_rows()]


def test_csv_windows_keeps_the_users_split_column(tmp_path):
    write_csv(tmp_path / "s.csv", split_rows(), header="window,label,ax,ay,part")
    dataset = CsvWindows({"path": "s.csv", "split_column": "part"}, base_dir=tmp_path)
    assert dataset.split("train").ids == ["w0", "w1", "w2"]
    assert dataset.split("val").ids == ["w3", "w4"] and dataset.split("test").ids == ["w5"]
    assert dataset.split("all").x.shape == (6, 2, 3)  # the split column is no channel


@pytest.mark.parametrize("edit, message", [
    (lambda r: r.__setitem__(0, [*r[0][:4], "test"]), "line 3: window 'w0' changes its split"),
    (lambda r: r.__setitem__(0, [*r[0][:4], "holdout"]), "line 2: split 'holdout' is none of"),
    (lambda r: r.__setitem__(0, ["w0", 1, 0, 0, "train"]) or [x.__setitem__(1, 1) for x in r[:3]],
     "1 anomalous window(s) in the training split (w0); the anomaly task trains on normal"),
    (lambda r: [x.__setitem__(4, "val") for x in r[15:]], "the test split is empty"),
])
def test_a_bad_split_column_is_refused(tmp_path, edit, message):
    rows = split_rows()
    edit(rows)
    write_csv(tmp_path / "s.csv", rows, header="window,label,ax,ay,part")
    with pytest.raises(InputError) as error:
        CsvWindows({"path": "s.csv", "split_column": "part"}, base_dir=tmp_path).split("train")
    assert message in error.value.message


def test_csv_windows_takes_the_users_train_val_and_test_files(tmp_path):
    rows = good_rows()
    for name, part in (("train", rows[:9]), ("val", rows[9:15]), ("test", rows[15:])):
        write_csv(tmp_path / f"{name}.csv", part)
    dataset = CsvWindows({"path": "train.csv", "val": "val.csv", "test": "test.csv"},
                         base_dir=tmp_path)
    assert dataset.split("train").ids == ["w0", "w1", "w2"]
    assert dataset.split("val").ids == ["w3", "w4"] and dataset.split("test").ids == ["w5"]
    assert dataset.split("all").truth.tolist() == [0, 0, 0, 0, 1, 1]
    write_csv(tmp_path / "short.csv", [r[:3] for r in rows[15:]], header="window,label,ax")
    with pytest.raises(InputError, match="windows of different shapes .* train 2x3, val 2x3, "
                                         "test 1x3"):
        CsvWindows({"path": "train.csv", "val": "val.csv", "test": "short.csv"},
                   base_dir=tmp_path).split("all")


@pytest.mark.parametrize("parameters, message", [
    ({"val": "val.csv"}, "give both 'val' and 'test' files"),
    ({"split_column": "part", "val_fraction": 0.2},
     "val_fraction shape the random split, which your own split replaces: remove them"),
    ({"split_column": "part", "val": "v.csv", "test": "t.csv"}, "not both"),
])
def test_an_ambiguous_split_is_refused_at_load_with_exit_2(tmp_path, capsys, parameters, message):
    write_csv(tmp_path / "s.csv", split_rows(), header="window,label,ax,ay,part")
    dataset = {"type": "csv-windows", "parameters": {"path": "s.csv", **parameters}}
    assert run_cli("test", write_scenario(tmp_path, scenario("s", dataset))) == 2
    assert message in capsys.readouterr().err


def test_an_autoencoder_without_the_anomaly_task_is_refused_before_training(tmp_path, capsys):
    # npz-arrays defaults to classification; the user forgot 'task: {type: anomaly}'
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "w.npz", windows=rng.normal(size=(60, 1, 16)).astype(np.float32),
             labels=(rng.uniform(size=60) < 0.2).astype(np.int64))
    data = scenario("ae", {"type": "npz-arrays", "parameters": {"path": "w.npz"}})
    assert run_cli("run", write_scenario(tmp_path, data)) == 2
    err = capsys.readouterr().err
    assert "the model's output 'reconstruction' has the shape of its input 'windows' (1x16 per " \
           "sample), like an autoencoder's reconstruction, but the task is classification" in err
    assert "hint: for anomaly detection set 'task: {type: anomaly}'" in err
    assert "model: training" not in err and not (tmp_path / "m" / "ae.pt").exists()


def test_classification_refuses_a_loaded_reconstruction_but_not_a_classifier():
    from heiti.tasks.classification import Classification

    def io(inputs: list[int], outputs: list[int]) -> IOSpec:
        return IOSpec(inputs=[TensorSpec(name="x", shape=inputs)],
                      outputs=[TensorSpec(name="y", shape=outputs)])

    two = DatasetInfo(name="npz", class_names=["0", "1"])
    for shape in ([-1, 3, 32], [-1, 16]):  # a conv and a dense autoencoder's file
        with pytest.raises(InputError, match="output 'y' has the shape of its input 'x'") as error:
            Classification().check_model(io(shape, shape), two)
        assert "task: {type: anomaly}" in str(error.value.hint)
    sixteen = DatasetInfo(name="npz", class_names=[str(i) for i in range(16)])
    Classification().check_model(io([-1, 16], [-1, 16]), sixteen)  # 16 features, 16 classes
