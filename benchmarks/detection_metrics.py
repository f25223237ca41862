"""How long do COCO detection metrics take: faster-coco-eval (what heiti uses) against
pycocotools (the reference), and what the untimed box post-processing costs per image.

The detection test split of the demo's size (400 shapes images of 64x64) with truth from
the generator and detections made from it (shifted copies, misses, duplicates, false
alarms, random scores), so the metrics are neither trivial nor hopeless. Repeats
alternate between the two libraries; the figure is the ratio of medians. The same
numbers come out of both (tests/test_detection.py checks it).

    python benchmarks/detection_metrics.py [--images 400] [--repeats 7]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time

import numpy as np

from _common import median


def detections_from(truth: list[dict], rng: np.random.Generator) -> list[dict]:
    made = []
    for item in truth:
        boxes, labels = item["boxes"], item["labels"]
        found = rng.uniform(size=len(boxes)) > 0.15
        shifted = boxes[found] + rng.normal(0, 1.5, (int(found.sum()), 4)).astype(np.float32)
        false = rng.uniform(0, 56, (rng.integers(0, 20), 2))
        false = np.concatenate([false, false + 8], axis=1).astype(np.float32)
        all_boxes = np.concatenate([shifted, shifted + 2, false])
        all_labels = np.concatenate([labels[found], (labels[found] + 1) % 3,
                                     rng.integers(0, 3, len(false))])
        made.append({"boxes": all_boxes, "labels": all_labels,
                     "scores": rng.uniform(0.05, 1, len(all_boxes)).astype(np.float32)})
    return made


def pycocotools_metrics(ground: dict, results: list[dict]) -> float:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = ground
        coco.createIndex()
        evaluation = COCOeval(coco, coco.loadRes(results), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return float(evaluation.stats[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    from heiti.datasets.shapes import Shapes
    from heiti.evaluation.coco import coco_detections, coco_ground_truth, detection_metrics
    from heiti.postprocess import center_boxes

    truth = Shapes({"images": args.images, "size": 64}).split("all").truth
    detections = detections_from(truth, np.random.default_rng(0))
    names = ["rectangle", "ellipse", "triangle"]
    ground, results = coco_ground_truth(truth, names, (64, 64)), coco_detections(detections)
    times: dict[str, list[float]] = {"faster-coco-eval (heiti: all metrics)": [],
                                     "pycocotools (COCO summary only)": []}
    values = {}
    for _ in range(args.repeats):
        start = time.perf_counter()
        values["fast"] = detection_metrics(truth, detections, names, (64, 64))["metrics"]["map50"]
        times["faster-coco-eval (heiti: all metrics)"].append(time.perf_counter() - start)
        start = time.perf_counter()
        values["reference"] = pycocotools_metrics(ground, results)
        times["pycocotools (COCO summary only)"].append(time.perf_counter() - start)
    assert abs(values["fast"] - values["reference"]) < 1e-12

    rng = np.random.default_rng(1)
    raw = {"heatmap": rng.uniform(0, 1, (args.images, 3, 16, 16)).astype(np.float32) ** 6,
           "ltrb": rng.uniform(0, 4, (args.images, 4, 16, 16)).astype(np.float32)}
    decode = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        center_boxes.apply(raw, {"input": np.zeros((args.images, 3, 64, 64), np.float32)})
        decode.append(time.perf_counter() - start)

    print(f"{args.images} images, {sum(len(d['boxes']) for d in detections)} detections, "
          f"{sum(len(t['boxes']) for t in truth)} objects, {args.repeats} repeats; map50 "
          f"{values['fast']:.4f} from both")
    print("| metrics | median s | spread s |\n|---|---|---|")
    for name, series in times.items():
        print(f"| {name} | {median(series):.3f} | {min(series):.3f}–{max(series):.3f} |")
    ratio = median(times["pycocotools (COCO summary only)"]) / median(
        times["faster-coco-eval (heiti: all metrics)"])
    print(f"\npycocotools / faster-coco-eval = {ratio:.2f}")
    print(f"center_boxes post-processing: {median(decode) / args.images * 1e6:.0f} µs per image "
          f"(median of {args.repeats}, 16x16 cells, 3 classes)")


if __name__ == "__main__":
    main()
