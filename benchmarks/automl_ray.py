"""Wall time of one AutoML search run here (one trial at a time) and on a local Ray instance
with two workers: the same scenario, budget and seed; ratio of medians over repetitions.

    PYTHONPATH=src python benchmarks/automl_ray.py [--repeats 2] [--trials 8] [--epochs 4]

Each search starts from an empty output folder, so every trial trains; the Ray instance is
started once and kept warm between repetitions (its start-up is printed on its own).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import median  # noqa: E402

SCENARIO = {
    "name": "bench-automl",
    "dataset": {"type": "digits", "parameters": {"seed": 0}},
    "model": {"type": "tiny-cnn", "parameters": {"channels": [16, 32], "hidden": 64},
              "train": {"epochs": 4, "batch_size": 32, "patience": None}},
    "optimizers": [{"type": "micro-ptq", "parameters": {"calibration_samples": 100}},
                   {"type": "micro-c", "parameters": {"check_samples": 0, "cortex_m4": False}}],
    "runtime": {"type": "micro-host"},
    "test": {"warmup": 0},
    "report": {"enabled": False},
}


def search(folder: Path, trials: int, epochs: int, ray: bool) -> float:
    from heiti.automl import prepare, search_and_report

    data = dict(SCENARIO, build_dir=str(folder), search={
        "parameters": {"model.parameters.channels": {"length": [1, 2], "items": {"low": 8, "high": 32}},
                       "model.parameters.hidden": {"choices": [32, 64]}},
        "budget": {"trials": trials, "epochs": epochs}, "pruning": {"enabled": False}, "seed": 0})
    started = time.perf_counter()
    search_and_report(prepare(data, folder), ray=ray, workers=2 if ray else None, evaluate_best=False)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    from heiti.pipeline.distributed import connect

    started = time.perf_counter()
    connect(workers=2)
    startup = time.perf_counter() - started
    work = Path(tempfile.mkdtemp(prefix="heiti-bench-automl-"))
    times: dict[str, list[float]] = {"local": [], "ray-2": []}
    try:
        for repeat in range(args.repeats):
            for mode in times:
                folder = work / f"{mode}-{repeat}"
                times[mode].append(search(folder, args.trials, args.epochs, mode != "local"))
                shutil.rmtree(folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()[0]
    print(f"{args.trials} trials x {args.epochs} epochs (digits, tiny-cnn, heiti micro chain, host "
          f"evaluation); {os.cpu_count()} cores, load average {load:.1f} at the end")
    print(f"Ray local instance start: {startup:.1f} s (once)")
    print("| mode | runs [s] | median [s] |")
    print("|---|---|---|")
    for mode, values in times.items():
        print(f"| {mode} | {', '.join(f'{v:.1f}' for v in values)} | {median(values):.1f} |")
    print(f"speed-up with two Ray workers: {median(times['local']) / median(times['ray-2']):.2f}x")


if __name__ == "__main__":
    main()
