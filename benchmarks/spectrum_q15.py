"""How far the fixed-point spectrum (CMSIS-DSP's arm_rfft_q15) is from the float one, on
the data of examples/anomaly/anomaly-spectrum.yml, and what it does to the example's
ROC AUC (docs/anomaly.md).

1. Features: every window of the example's dataset (all splits) through both
   implementations with the example's settings; the absolute difference of the log
   spectrum (max, mean, 99th percentile) and of the plain magnitudes relative to the
   largest value.
2. Detection: the example itself run twice with `heiti run` (same seed, data and model),
   once per implementation, in a temporary build directory; its test ROC AUC each time.

    python benchmarks/spectrum_q15.py [--no-train]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

from heiti.datasets.sensor_windows import SensorWindows
from heiti.signal.spectrum import SpectrumParams, spectrum

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "anomaly" / "anomaly-spectrum.yml"
IMPLEMENTATIONS = ("numpy", "cmsis-q15")


def feature_differences(scenario: dict) -> None:
    parameters = dict(scenario["dataset"]["parameters"])
    settings = parameters.pop("spectrum")
    windows = SensorWindows(parameters).split("all").x
    print(f"{windows.shape[0]} windows of {windows.shape[1]} channels x {windows.shape[2]} samples, "
          f"spectrum {settings}")
    for log in (True, False):
        numpy_, q15 = (spectrum(windows, SpectrumParams(**{**settings, "log": log, "implementation": i}))
                       for i in IMPLEMENTATIONS)
        diff = np.abs(numpy_.astype(np.float64) - q15)
        if log:
            print(f"log spectrum: |numpy - cmsis-q15| max {diff.max():.4f}, mean {diff.mean():.4f}, "
                  f"99th percentile {np.percentile(diff, 99):.4f} (values from {numpy_.min():.2f} "
                  f"to {numpy_.max():.2f})")
        else:
            top = np.abs(numpy_).max()
            print(f"magnitudes: |numpy - cmsis-q15| max {diff.max() / top:.2e}, mean "
                  f"{diff.mean() / top:.2e} of the largest value ({top:.4f})")


def roc_auc(scenario: dict, implementation: str, folder: Path) -> float:
    data = json.loads(json.dumps(scenario))
    data["dataset"]["parameters"]["spectrum"]["implementation"] = implementation
    data["build_dir"] = str(folder / implementation)
    data["report"] = {"enabled": False}
    path = folder / f"{implementation}.yml"
    path.write_text(yaml.safe_dump(data))
    subprocess.run([sys.executable, "-m", "heiti", "run", str(path)], check=True,
                   stdout=subprocess.DEVNULL)
    measured = json.loads((folder / implementation / "measurements.json").read_text())
    return measured["quality"]["metrics"]["roc_auc"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-train", action="store_true", help="only compare the features")
    args = parser.parse_args()
    scenario = yaml.safe_load(EXAMPLE.read_text())
    feature_differences(scenario)
    if not args.no_train:
        with tempfile.TemporaryDirectory() as tmp:
            for implementation in IMPLEMENTATIONS:
                print(f"{EXAMPLE.name} with implementation {implementation}: ROC AUC "
                      f"{roc_auc(scenario, implementation, Path(tmp)):.4f}")


if __name__ == "__main__":
    main()
