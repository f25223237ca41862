"""Object detection end to end: COCO metrics against pycocotools, the coco-json loader and
its refusals, the shapes generator, box decoding, and a tiny shapes -> detector -> ONNX
fp32/int8 -> report run."""

from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli, write_scenario

pytest.importorskip("faster_coco_eval", reason="needs the detection extra")

CLASSES = ["square", "round", "pointy"]


def _fixed_set(seed: int = 0) -> tuple[list[dict], list[dict]]:
    """20 images of 64x64: objects of three classes, and detections that are shifted copies,
    duplicates, misses and false alarms with random scores."""
    rng = np.random.default_rng(seed)
    truth, detections = [], []
    for _ in range(20):
        count = rng.integers(0, 5)
        xy = rng.uniform(0, 40, (count, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(4, 24, (count, 2))], axis=1).astype(np.float32)
        labels = rng.integers(0, 3, count)
        truth.append({"boxes": boxes, "labels": labels})
        found = rng.uniform(size=count) > 0.2
        shifted = boxes[found] + rng.normal(0, 2, (int(found.sum()), 4)).astype(np.float32)
        false = rng.uniform(0, 50, (rng.integers(0, 3), 2))
        false = np.concatenate([false, false + 8], axis=1).astype(np.float32)
        det_boxes = np.concatenate([shifted, shifted[:1] + 1, false])
        det_labels = np.concatenate([labels[found], labels[found][:1], rng.integers(0, 3, len(false))])
        detections.append({"boxes": det_boxes, "labels": det_labels,
                           "scores": rng.uniform(0.05, 1, len(det_boxes)).astype(np.float32)})
    return truth, detections


def test_coco_metrics_equal_pycocotools_on_a_fixed_set():
    pytest.importorskip("pycocotools", reason="needs the detection extra")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from heiti.evaluation.coco import SUMMARY, coco_detections, coco_ground_truth, detection_metrics

    truth, detections = _fixed_set()
    ours = detection_metrics(truth, detections, CLASSES, (64, 64))
    with contextlib.redirect_stdout(io.StringIO()):
        ground = COCO()
        ground.dataset = coco_ground_truth(truth, CLASSES, (64, 64))
        ground.createIndex()
        reference = COCOeval(ground, ground.loadRes(coco_detections(detections)), "bbox")
        reference.evaluate()
        reference.accumulate()
        reference.summarize()
    stats = dict(zip(["AP_all", "AP_50", "AP_75", "AP_small", "AP_medium", "AP_large", "AR_all",
                      "AR_second", "AR_third"], reference.stats, strict=False))
    for name, key in SUMMARY.items():
        assert ours["metrics"][name] == pytest.approx(stats[key], abs=1e-12), name
    assert 0.2 < ours["metrics"]["map50"] < 0.95  # the set is neither trivial nor hopeless
    precision = reference.eval["precision"]
    for k, name in enumerate(CLASSES):
        curve = precision[:, :, k, 0, -1]
        assert ours["details"]["per_class"][name]["ap"] == pytest.approx(curve[curve > -1].mean())
        assert ours["details"]["pr_curves"]["precision"][name] == pytest.approx(
            np.clip(precision[0, :, k, 0, -1], 0, None).tolist(), abs=1e-6)


def test_metrics_recomputed_from_predictions_csv_equal_heitis(tmp_path):
    """predictions.csv keeps every digit, so a user recomputing AP gets heiti's figures
    (rounded boxes and scores gave 0.7222 where heiti said 0.7212)."""
    import csv

    from heiti.core.dataset import Samples
    from heiti.core.task import DatasetInfo
    from heiti.evaluation.coco import detection_metrics
    from heiti.pipeline.run import write_predictions
    from heiti.tasks.detection import Detection

    truth, detections = _fixed_set(30)  # a set where rounding to 0.1 px moves AP50 by 0.01
    data = Samples({"image": np.zeros((len(truth), 1, 64, 64), np.float32)}, truth)
    outputs = {key: [d[key] for d in detections] for key in ("boxes", "scores", "labels")}
    quality = Detection().evaluate(data, outputs, DatasetInfo("fixed", CLASSES))
    write_predictions(tmp_path / "predictions.csv", data, quality.predictions)
    with (tmp_path / "predictions.csv").open(encoding="utf-8") as handle:
        rows = [(json.loads(r["truth"]), json.loads(r["prediction"])) for r in csv.DictReader(handle)]
    recomputed = detection_metrics(
        [{"boxes": np.asarray(t["boxes"]).reshape(-1, 4), "labels": np.asarray(t["labels"])}
         for t, _ in rows],
        [{"boxes": np.asarray(p["boxes"]).reshape(-1, 4), "scores": np.asarray(p["scores"]),
          "labels": np.asarray([CLASSES.index(n) for n in p["labels"]])} for _, p in rows],
        CLASSES, (64, 64))
    assert recomputed["metrics"] == quality.metrics


def test_threshold_sweep_counts_matches_at_iou_half():
    from heiti.evaluation.coco import detection_metrics

    truth = [{"boxes": np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32),
              "labels": np.array([0, 1])}]
    # a hit (IoU 0.81) scored 0.9, a miss of the second object (IoU 0.14) scored 0.5
    detections = [{"boxes": np.array([[1, 1, 10, 10], [26, 26, 36, 36]], np.float32),
                   "labels": np.array([0, 1]), "scores": np.array([0.9, 0.5], np.float32)}]
    result = detection_metrics(truth, detections, CLASSES, (40, 40))
    sweep = result["details"]["threshold_sweep"]
    at = {round(t, 2): i for i, t in enumerate(sweep["thresholds"])}
    assert (sweep["precision"][at[0.3]], sweep["recall"][at[0.3]]) == (0.5, 0.5)
    assert (sweep["precision"][at[0.6]], sweep["recall"][at[0.6]]) == (1.0, 0.5)
    assert result["metrics"]["f1"] == pytest.approx(2 / 3, abs=1e-6)
    assert result["details"]["best_threshold"] > 0.5


def test_center_boxes_decode_peaks_and_suppress_overlaps():
    from heiti.postprocess import center_boxes

    heatmap = np.zeros((1, 2, 8, 8), np.float32)
    ltrb = np.zeros((1, 4, 8, 8), np.float32)
    heatmap[0, 0, 2, 3] = 0.9  # class 0 centred in cell (row 2, col 3): pixels (14, 10) at stride 4
    ltrb[0, :, 2, 3] = [1, 2, 1, 2]
    heatmap[0, 0, 2, 5] = 0.8  # a second class-0 peak whose box mostly covers the first
    ltrb[0, :, 2, 5] = [3, 2, 0, 2]
    heatmap[0, 1, 2, 5] = 0.7  # the same box in another class survives NMS
    heatmap[0, 1, 5, 5] = 0.01  # below the score threshold
    out = center_boxes.apply({"heatmap": heatmap, "ltrb": ltrb}, {"x": np.zeros((1, 3, 32, 32))},
                             score_threshold=0.05, iou_threshold=0.5)
    np.testing.assert_allclose(out["boxes"][0][0], [10, 2, 18, 18])
    assert out["labels"][0].tolist() == [0, 1] and out["scores"][0].tolist() == pytest.approx([0.9, 0.7])
    wide = center_boxes.apply({"heatmap": heatmap, "ltrb": ltrb}, {"x": np.zeros((1, 3, 32, 64))})
    np.testing.assert_allclose(wide["boxes"][0][0], [20, 2, 36, 18])  # 8 pixels per cell across


def test_center_targets_peak_at_each_centre():
    from heiti.frameworks.center_loss import center_targets

    truth = [{"boxes": np.array([[4, 4, 20, 12], [16, 16, 32, 32]], np.float32),
              "labels": np.array([1, 0])}]
    heat, boxes, weight = center_targets(truth, 2, (8, 8), (4.0, 4.0))
    assert heat[0, 1, 2, 3] == 1.0 and heat[0, 0, 6, 6] == 1.0 and (heat == 1).sum() == 2
    assert boxes[0, :, 2, 3].tolist() == [4, 4, 20, 12] and weight[0, 2, 3] == 1.0
    assert weight[0, 0, 0] == 0  # far from every object: no box to regress


def test_two_runs_agree_when_their_confident_boxes_pair_up():
    from heiti.tasks.detection import Detection

    task = Detection()
    a = {"boxes": [[0, 0, 10, 10], [20, 20, 30, 30], [5, 5, 9, 9]], "scores": [0.9, 0.6, 0.1],
         "labels": ["ellipse", "triangle", "ellipse"]}
    b = {"boxes": [[21, 21, 30, 30], [1, 0, 10, 10]], "scores": [0.5, 0.8],
         "labels": ["triangle", "ellipse"]}
    assert task.same_prediction(a, b)  # the 0.1 box is below the decision threshold
    assert not task.same_prediction(a, {**b, "labels": ["ellipse", "ellipse"]})
    assert not task.same_prediction(a, {**b, "boxes": [[25, 25, 35, 35], [1, 0, 10, 10]]})
    assert task.same_prediction({"boxes": [], "scores": [], "labels": []},
                                {"boxes": [[1, 1, 2, 2]], "scores": [0.2], "labels": ["ellipse"]})


# --- datasets -----------------------------------------------------------------------------


def test_shapes_is_seeded_and_boxes_bound_the_drawn_objects():
    from heiti.datasets.shapes import Shapes

    params = {"images": 30, "size": 32, "object_size": [6, 14], "seed": 3}
    first, second = (Shapes(params).split("all") for _ in range(2))
    assert np.array_equal(first.x, second.x)
    assert all(np.array_equal(a["boxes"], b["boxes"]) for a, b in zip(first.truth, second.truth,
                                                                        strict=True))
    other = Shapes({**params, "seed": 4}).split("all")
    assert not np.array_equal(first.x, other.x)

    single = Shapes({**params, "objects": [1, 1], "noise": 0.0}).split("all")
    for image, truth in zip(single.x, single.truth, strict=True):
        assert truth["labels"].shape == (1,) and 0 <= truth["labels"][0] < 3
        differs = np.abs(image - image[:, :1, :1]).sum(axis=0) > 1e-6  # pixels unlike the corner
        rows, cols = np.nonzero(differs)
        assert [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1] == truth["boxes"][0].tolist()


def _coco_files(folder: Path) -> dict:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 20), (255, 0, 0)).save(folder / "wide.png")
    Image.new("L", (30, 30), 128).save(folder / "grey.png")
    Image.new("RGB", (8, 8)).save(folder / "empty.png")  # an image without objects
    return {
        "images": [{"id": 10, "file_name": "wide.png", "width": 40, "height": 20},
                   {"id": 11, "file_name": "grey.png", "width": 30, "height": 30},
                   {"id": 12, "file_name": "empty.png"}],
        "categories": [{"id": 7, "name": "cat"}, {"id": 3, "name": "dog"}],
        "annotations": [
            {"id": 1, "image_id": 10, "category_id": 7, "bbox": [4, 2, 20, 10]},
            {"id": 2, "image_id": 10, "category_id": 3, "bbox": [30, 10, 10, 10]},
            {"id": 3, "image_id": 11, "category_id": 3, "bbox": [0, 0, 15, 30]},
            {"id": 4, "image_id": 11, "category_id": 7, "bbox": [1, 1, 5, 5], "iscrowd": 1},
        ]}


def test_coco_json_reads_images_and_scales_boxes(tmp_path):
    from heiti.datasets.coco_json import CocoJson

    (tmp_path / "ann.json").write_text(json.dumps(_coco_files(tmp_path)))
    dataset = CocoJson({"annotations": "ann.json", "size": [10, 20]}, base_dir=tmp_path)
    assert dataset.class_names == ["dog", "cat"]  # sorted by category id
    data = dataset.split("all")
    assert data.x.shape == (3, 3, 10, 20) and data.x.dtype == np.float32
    assert data.ids == ["wide.png", "grey.png", "empty.png"]
    np.testing.assert_allclose(data.x[0, :, 0, 0], [1, 0, 0])
    wide, grey, empty = data.truth
    assert empty["boxes"].shape == (0, 4) and empty["labels"].shape == (0,)
    np.testing.assert_allclose(wide["boxes"], [[2, 1, 12, 6], [15, 5, 20, 10]])
    assert wide["labels"].tolist() == [1, 0]
    np.testing.assert_allclose(grey["boxes"], [[0, 0, 10, 10]])  # the crowd box is skipped
    assert grey["labels"].tolist() == [0]


def _break_missing_image(doc: dict) -> str:
    doc["images"][1]["file_name"] = "gone.png"
    return "images[1] (id 11, 'gone.png')"


def _break_box(doc: dict) -> str:
    doc["annotations"][1]["bbox"] = [35, 10, 10, 10]  # 5 pixels beyond the right edge
    return "annotations[1] (id 2)"


def _break_category(doc: dict) -> str:
    doc["annotations"][2]["category_id"] = 9
    return "annotations[2] (id 3): unknown category_id 9"


def _break_image_id(doc: dict) -> str:
    doc["annotations"][0]["image_id"] = 99
    return "annotations[0] (id 1): unknown image_id 99"


def _break_nan_box(doc: dict) -> str:
    doc["annotations"][0]["bbox"] = [float("nan"), 2, 20, 10]  # json.dumps writes NaN
    return "annotations[0] (id 1): bbox [nan, 2, 20, 10] holds a value that is not a finite"


def _break_depth(doc: dict) -> str:
    doc["annotations"] = "DEEP"
    return "is nested too deeply to be a COCO annotations file"


@pytest.mark.parametrize("damage", [_break_missing_image, _break_box, _break_category,
                                    _break_image_id, _break_nan_box, _break_depth, None],
                         ids=["missing-image", "box-outside", "unknown-category", "unknown-image",
                              "nan-box", "100k-deep", "bad-json"])
def test_a_malformed_coco_file_is_refused_naming_file_and_entry(tmp_path, capsys, damage):
    doc = _coco_files(tmp_path)
    if damage is None:
        text, expected = json.dumps(doc)[:-30], "is not valid JSON: line 1, column"
    else:
        expected = damage(doc)
        text = json.dumps(doc).replace('"DEEP"', "[" * 100_000 + "]" * 100_000)
    (tmp_path / "ann.json").write_text(text)
    scenario = write_scenario(tmp_path, {
        "name": "bad", "build_dir": "build",
        "dataset": {"type": "coco-json", "parameters": {"annotations": "ann.json", "size": [16, 16]}},
        "model": {"type": "center-detector", "train": {"epochs": 1}},
        "optimizers": [{"type": "onnx-export"}], "runtime": {"type": "onnxruntime"}})
    assert run_cli("train", scenario) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "ann.json") in err and expected in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "build" / "model.pt").exists()


# --- end to end ---------------------------------------------------------------------------

TINY = {
    "dataset": {"type": "shapes", "parameters": {"images": 120, "size": 32, "object_size": [8, 16],
                                                 "objects": [1, 2], "calibration_size": 32}},
    "model": {"type": "center-detector", "path": "../model/model.pt",
              "parameters": {"stem": [8, 16], "width": 16, "dilations": [1, 2]},
              "train": {"epochs": 4, "lr": 0.01, "batch_size": 16, "patience": None}},
    "runtime": {"type": "onnxruntime"},
    "test": {"warmup": 1, "batch_size": 8},
}


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory) -> Path:
    """The tiny detector trained once, evaluated as ONNX fp32 and int8 (QDQ)."""
    pytest.importorskip("onnxruntime", reason="needs the onnx extra")
    pytest.importorskip("torch", reason="needs the torch extra")
    folder = tmp_path_factory.mktemp("detection")
    chains = {
        "fp32": [{"type": "onnx-export"}],
        "int8": [{"type": "onnx-export"}, {"type": "ort-quantize",
                                           "parameters": {"calibration_samples": 32}}],
    }
    paths = [write_scenario(folder / name, {"name": f"tiny-{name}", "build_dir": "build",
                                            **copy.deepcopy(TINY), "optimizers": chain}, "s.yml")
             for name, chain in chains.items()]
    assert run_cli("run", *paths, "--compare", folder / "compare") == 0
    return folder


def test_tiny_detector_runs_as_onnx_fp32_and_int8(tiny_runs):
    from heiti.pipeline.measurements import load_measurements

    fp32, int8 = (load_measurements(tiny_runs / n / "build" / "measurements.json")
                  for n in ("fp32", "int8"))
    for doc in (fp32, int8):
        quality = doc.quality
        assert quality.task == "detection" and quality.primary_metric == "map50"
        assert {"map", "map50", "map75", "mar100", "precision", "recall", "f1"} <= set(quality.metrics)
        assert quality.samples == len(quality.predictions) == 24
        assert set(quality.details["per_class"]) == {"rectangle", "ellipse", "triangle"}
    assert [o["name"] for o in fp32.model.io["outputs"]] == ["heatmap", "ltrb"]  # raw head outputs
    assert fp32.model.io["postprocess"]["type"] == "center_boxes"
    assert int8.model.format != fp32.model.format and int8.model.size_bytes < fp32.model.size_bytes
    # four epochs on 78 images learn something, and int8 keeps most of it
    assert fp32.quality.metrics["map50"] > 0.02
    assert abs(int8.quality.metrics["map50"] - fp32.quality.metrics["map50"]) < 0.15
    first = fp32.quality.predictions[0]
    assert set(first) == {"boxes", "scores", "labels"} and all(
        label in ("rectangle", "ellipse", "triangle") for label in first["labels"])


def test_detection_report_shows_the_tables_curves_and_example_grid(tiny_runs):
    page = (tiny_runs / "fp32" / "build" / "report" / "report.html").read_text(encoding="utf-8")
    for text in ("Detection quality", "mAP@0.5 (primary)", "AP@[.5:.95]", "score threshold",
                 "Precision-recall per class", "Examples"):
        assert text in page, text
    markdown = (tiny_runs / "fp32" / "build" / "report" / "report.md").read_text(encoding="utf-8")
    assert "![Samples with truth and predictions](examples.png)" in markdown
    example = tiny_runs / "fp32" / "build" / "examples.png"
    assert example.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tiny_runs / "fp32" / "build" / "report" / "examples.png").read_bytes() == example.read_bytes()
    comparison = (tiny_runs / "compare" / "report.md").read_text(encoding="utf-8")
    assert "| map50 | map | f1 |" in comparison
