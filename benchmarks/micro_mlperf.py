"""MLPerf-Tiny-shaped int8 .tflite models on an emulated Cortex-M4: instructions per
inference, flash and RAM with heiti micro's portable and DSP kernels.

The four models of tests/test_micro_mlperf.py (built there with litert-torch, untrained
seeded weights, int8 input and output with zero points, int8 SOFTMAX where the reference
has one: DS-CNN 49x10x1, MobileNetV1-0.25 96x96x3, ResNet-8 32x32x3, FC autoencoder 640)
are imported with micro-import-tflite and run in firmware on mps2-an386 under QEMU
-icount shift=0, once as built for the board (DSP kernels) and once with
-DHM_PORTABLE_KERNELS. Both builds' outputs are checked equal to TFLM's on every sample.

    python benchmarks/micro_mlperf.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

from _common import print_table
from heiti.micro.tflite_import import import_tflite
from micro_dsp import BOARD, portable_board

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_micro_mlperf import SHAPES, c_artifact, convert, on_board, samples, tflm_outputs  # noqa: E402

SAMPLES = 3


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        portable = portable_board(folder)
        for name, shape in SHAPES.items():
            (folder / name).mkdir()
            tflite = convert(name, folder / name / "model.tflite")
            graph = import_tflite(tflite, shape)
            raw = graph.quantize_input(samples(name, SAMPLES))
            want = tflm_outputs(tflite, raw)
            artifact = c_artifact(graph, tflite, folder / name)
            for kernels, board in (("portable", portable), ("DSP", BOARD)):
                found, stats = on_board(artifact, board, raw)
                assert np.array_equal(found, want), f"{name} ({kernels}): outputs differ from TFLM"
                rows.append([name, kernels, f"{stats['macs_per_inference']:,}",
                             f"{stats['instructions_per_inference']['mean']:,.0f}",
                             f"{stats['instructions_per_mac']:.2f}", stats["flash"]["used_bytes"],
                             stats["ram"]["used_bytes"]])
    print(f"\n{BOARD}, tflite scheme, outputs equal to TFLM on {SAMPLES} samples each\n")
    print_table(["model", "kernels", "MACs / inference", "instructions / inference", "instructions / MAC",
                 "flash B", "RAM B"], rows)


if __name__ == "__main__":
    main()
